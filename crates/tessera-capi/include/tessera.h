/* Tessera's C API. Generated from crates/tessera-capi by cbindgen: do not edit.
 * See docs/c-api.md for ownership, lifetimes, threading and the struct_size rule. */

#ifndef TESSERA_H
#define TESSERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The ABI version of this library: raised only by a change that breaks existing callers
// (never by new functions, new enum values or new trailing struct fields).
#define TESSERA_ABI_VERSION 1

// What a `tessera_*` function returns. `TESSERA_STATUS_OK` is zero; every other value comes
// with a message from `tessera_last_error_message()`. Values are stable; new ones may be
// added, so treat an unknown value as a failure.
enum TesseraStatus
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // Success.
  TESSERA_STATUS_OK = 0,
  // A null pointer where a value is required, a string that is not UTF-8, a bad
  // `struct_size`, an unknown dtype, a negative dimension, a handle of another session.
  TESSERA_STATUS_INVALID_ARGUMENT = 1,
  // A name that is not an input or output of the model, or an index out of range.
  TESSERA_STATUS_NOT_FOUND = 2,
  // The model could not be read, imported, optimized or verified.
  TESSERA_STATUS_INVALID_MODEL = 3,
  // Nodes that no device in the preference list supports (every one is listed), or a
  // feature this build or platform lacks.
  TESSERA_STATUS_UNSUPPORTED = 4,
  // A device could not be created or could not compile its part of the model.
  TESSERA_STATUS_DEVICE = 5,
  // The bound inputs or outputs do not match the model (every problem is listed).
  TESSERA_STATUS_INVALID_INPUT = 6,
  // A run failed on a device.
  TESSERA_STATUS_EXECUTION = 7,
  // The operating system refused something (duplicating a file descriptor, starting a
  // thread, exporting a fence).
  TESSERA_STATUS_OS = 8,
  // A bug in Tessera (a panic, caught at the boundary). Please report it with the message.
  TESSERA_STATUS_INTERNAL = 9,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum TesseraStatus TesseraStatus;
#else
typedef int32_t TesseraStatus;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// Element types, numbered as ONNX's `TensorProto.DataType` (so `TESSERA_DTYPE_FLOAT` is 1).
// Every type Tessera knows is here; numbers never change. Elements are stored row-major,
// little-endian; `BOOL` and the low-precision types (float8, float4, 4- and 2-bit integers)
// take one byte per element (unpacked).
enum TesseraDtype
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // No dtype: a value that is not a tensor, or whose type is unknown.
  TESSERA_DTYPE_UNDEFINED = 0,
  // IEEE 754 binary32.
  TESSERA_DTYPE_FLOAT = 1,
  // Unsigned 8-bit integer.
  TESSERA_DTYPE_UINT8 = 2,
  // Signed 8-bit integer.
  TESSERA_DTYPE_INT8 = 3,
  // Unsigned 16-bit integer.
  TESSERA_DTYPE_UINT16 = 4,
  // Signed 16-bit integer.
  TESSERA_DTYPE_INT16 = 5,
  // Signed 32-bit integer.
  TESSERA_DTYPE_INT32 = 6,
  // Signed 64-bit integer.
  TESSERA_DTYPE_INT64 = 7,
  // Boolean, one byte (0 or 1) per element.
  TESSERA_DTYPE_BOOL = 9,
  // IEEE 754 binary16.
  TESSERA_DTYPE_FLOAT16 = 10,
  // IEEE 754 binary64.
  TESSERA_DTYPE_DOUBLE = 11,
  // Unsigned 32-bit integer.
  TESSERA_DTYPE_UINT32 = 12,
  // Unsigned 64-bit integer.
  TESSERA_DTYPE_UINT64 = 13,
  // bfloat16.
  TESSERA_DTYPE_BFLOAT16 = 16,
  // FLOAT8E4M3FN.
  TESSERA_DTYPE_FLOAT8_E4M3_FN = 17,
  // FLOAT8E4M3FNUZ.
  TESSERA_DTYPE_FLOAT8_E4M3_FNUZ = 18,
  // FLOAT8E5M2.
  TESSERA_DTYPE_FLOAT8_E5M2 = 19,
  // FLOAT8E5M2FNUZ.
  TESSERA_DTYPE_FLOAT8_E5M2_FNUZ = 20,
  // UINT4, one element per byte.
  TESSERA_DTYPE_UINT4 = 21,
  // INT4, one element per byte.
  TESSERA_DTYPE_INT4 = 22,
  // FLOAT4E2M1, one element per byte.
  TESSERA_DTYPE_FLOAT4_E2M1 = 23,
  // FLOAT8E8M0.
  TESSERA_DTYPE_FLOAT8_E8M0 = 24,
  // UINT2, one element per byte.
  TESSERA_DTYPE_UINT2 = 25,
  // INT2, one element per byte.
  TESSERA_DTYPE_INT2 = 26,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum TesseraDtype TesseraDtype;
#else
typedef int32_t TesseraDtype;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// The broad class of a device.
enum TesseraDeviceKind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // A simulator, a remote device or anything else.
  TESSERA_DEVICE_KIND_OTHER = 0,
  // The host CPU.
  TESSERA_DEVICE_KIND_CPU = 1,
  // A graphics processor.
  TESSERA_DEVICE_KIND_GPU = 2,
  // A neural processing unit or other fixed-function ML accelerator.
  TESSERA_DEVICE_KIND_NPU = 3,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum TesseraDeviceKind TesseraDeviceKind;
#else
typedef int32_t TesseraDeviceKind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// The inputs of a run and the outputs bound to caller memory, by name, and the outputs of
// the last run. Bindings persist across runs: bind once, run many times. Use one binding from
// one thread at a time.
typedef struct TesseraBinding TesseraBinding;

// The drivers sessions create their devices with, and the devices those drivers see (listed
// once, when the context is created). Thread-safe. Sessions keep what they need: a context may
// be destroyed while its sessions live on.
typedef struct TesseraContext TesseraContext;

// A run started with `tessera_session_submit`.
typedef struct TesseraRun TesseraRun;

// A compiled model. Thread-safe: several threads may run it at once, each with its own
// binding.
typedef struct TesseraSession TesseraSession;

// An output of the last run, read through `tessera_binding_output` (versioned). The pointers
// stay valid until the next run or wait on the binding, `tessera_binding_clear`, or its
// destruction.
typedef struct TesseraTensorView {
  // `sizeof(TesseraTensorView)` as the caller's header declares it; set by the caller.
  size_t struct_size;
  // The output's name, UTF-8.
  const char *name;
  // Element type.
  TesseraDtype dtype;
  // Number of dimensions.
  size_t rank;
  // `rank` extents (NULL for a scalar).
  const int64_t *shape;
  // The elements, row-major, little-endian (NULL when there are none).
  const void *data;
  // Bytes at `data`.
  size_t byte_len;
} TesseraTensorView;

// Options for `tessera_context_create` (versioned: set `struct_size` to
// `sizeof(TesseraContextOptions)`). None yet beyond the size; later versions add fields.
typedef struct TesseraContextOptions {
  // `sizeof(TesseraContextOptions)` as the caller's header declares it.
  size_t struct_size;
} TesseraContextOptions;

// One device, as `tessera_context_device_info` describes it (versioned). The strings belong to
// the context and live as long as it does.
typedef struct TesseraDeviceInfo {
  // `sizeof(TesseraDeviceInfo)` as the caller's header declares it; set by the caller.
  size_t struct_size;
  // The URI that selects the device in `TesseraSessionOptions.devices` (`cpu`, `vnpu://0`).
  const char *uri;
  // A human-readable name.
  const char *name;
  // The vendor, `unknown` when the driver cannot tell.
  const char *vendor;
  // The driver that owns the device.
  const char *driver;
  // The class of device.
  TesseraDeviceKind kind;
  // Compute units (logical cores for a CPU).
  size_t cores;
  // Features detected at run time, space separated, strongest first.
  const char *features;
  // Memory the device can use in bytes; 0 when unknown.
  uint64_t memory_bytes;
} TesseraDeviceInfo;

// A value for a symbolic dimension of the model's inputs (`batch` = 1).
typedef struct TesseraDim {
  // The dimension's name, UTF-8.
  const char *name;
  // Its value.
  size_t value;
} TesseraDim;

// How a session is built (versioned: set `struct_size` to `sizeof(TesseraSessionOptions)`).
// Zero means the default for every field, so `{ .struct_size = sizeof(TesseraSessionOptions) }`
// gives the defaults. The library reads the strings and arrays during the call only.
typedef struct TesseraSessionOptions {
  // `sizeof(TesseraSessionOptions)` as the caller's header declares it.
  size_t struct_size;
  // Device URIs in order of preference (`"cpu"`, `"cpu://threads=2"`, `"vnpu://0"`); each
  // node runs on the first that supports it. `NULL` / 0 means `{"cpu"}`.
  const char *const *devices;
  // Number of entries in `devices`.
  size_t num_devices;
  // Values for symbolic dimensions of the inputs.
  const struct TesseraDim *dims;
  // Number of entries in `dims`.
  size_t num_dims;
  // Use only the listed devices: a node none of them supports fails session creation
  // (`TESSERA_STATUS_UNSUPPORTED`, every such node listed) instead of running on the CPU.
  bool no_fallback;
  // Skip the optimization passes (the graph is still type-checked and verified).
  bool disable_optimize;
  // How many runs may be in flight at once (`tessera_session_submit`); 0 means 4.
  size_t max_in_flight;
} TesseraSessionOptions;

// A model input or output (versioned). Pointers belong to the session and live as long as it
// does.
typedef struct TesseraIoInfo {
  // `sizeof(TesseraIoInfo)` as the caller's header declares it; set by the caller.
  size_t struct_size;
  // The name, UTF-8.
  const char *name;
  // Element type; `TESSERA_DTYPE_UNDEFINED` when not a tensor or unknown.
  TesseraDtype dtype;
  // Number of dimensions; -1 when unknown.
  int64_t rank;
  // `rank` extents (NULL when `rank` is 0 or -1); -1 for a symbolic dimension.
  const int64_t *shape;
} TesseraIoInfo;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// The library's version (`"0.1.0"`), a static string.
const char *tessera_version(void);

// The library's ABI version (`TESSERA_ABI_VERSION` of the header it was built with). A caller
// may check it against the `TESSERA_ABI_VERSION` it was compiled with.
uint32_t tessera_abi_version(void);

// Creates an empty binding for `session`'s inputs and outputs.
//
// # Safety
//
// `session` is a live session; `out_binding` valid for a write.
TesseraStatus tessera_binding_create(const struct TesseraSession *session,
                                     struct TesseraBinding **out_binding);

// Destroys a binding, closing the descriptors it duplicated. Runs in flight from it finish
// normally. Null does nothing.
//
// # Safety
//
// `binding` is null or a live binding, not used after this call.
void tessera_binding_destroy(struct TesseraBinding *binding);

// Unbinds every input and output and forgets the last run's outputs.
//
// # Safety
//
// `binding` is a live binding.
TesseraStatus tessera_binding_clear(struct TesseraBinding *binding);

// Binds input `name` to a tensor in host memory: `byte_len` bytes at `data`, row-major,
// little-endian, exactly the dtype's size times the element count. The bytes are **copied**
// during the call; the caller may reuse `data` at once. Binding a name again replaces it.
// `TESSERA_STATUS_NOT_FOUND` when the model has no such input; dtype and shape are checked
// against the model when it runs.
//
// # Safety
//
// `binding` is a live binding; `name` a NUL-terminated string; `shape` points to `rank`
// extents; `data` to `byte_len` readable bytes.
TesseraStatus tessera_binding_bind_input(struct TesseraBinding *binding,
                                         const char *name,
                                         int32_t dtype,
                                         const int64_t *shape,
                                         size_t rank,
                                         const void *data,
                                         size_t byte_len);

// Binds input `name` to a tensor in memory shared by file descriptor (a memfd): `size` bytes
// at `offset` in the memory behind `fd` (0 means exactly the tensor's byte length), read in
// place by the device that needs it. The library **duplicates** `fd`; the caller keeps its
// own and may close it at once. The memory must hold the input's bytes while a run reads it.
//
// # Safety
//
// `binding` is a live binding; `name` a NUL-terminated string; `shape` points to `rank`
// extents; `fd` is open during the call.
TesseraStatus tessera_binding_bind_input_fd(struct TesseraBinding *binding,
                                            const char *name,
                                            int32_t dtype,
                                            const int64_t *shape,
                                            size_t rank,
                                            int32_t fd,
                                            uint64_t offset,
                                            size_t size);

// Has output `name` written into memory shared by file descriptor (as for
// `tessera_binding_bind_input_fd`; the library duplicates `fd`). The dtype and shape must be
// exactly the output's. A bound output is not among the binding's outputs after a run: its
// result is in the caller's memory.
//
// # Safety
//
// `binding` is a live binding; `name` a NUL-terminated string; `shape` points to `rank`
// extents; `fd` is open during the call.
TesseraStatus tessera_binding_bind_output_fd(struct TesseraBinding *binding,
                                             const char *name,
                                             int32_t dtype,
                                             const int64_t *shape,
                                             size_t rank,
                                             int32_t fd,
                                             uint64_t offset,
                                             size_t size);

// Runs the model on the binding's inputs, on the calling thread, and keeps the outputs that
// are not bound to descriptors in the binding (read them with `tessera_binding_output`). The
// previous run's outputs are dropped first. Every problem with the inputs is reported at once
// (`TESSERA_STATUS_INVALID_INPUT`).
//
// # Safety
//
// `session` is a live session; `binding` a live binding created for it.
TesseraStatus tessera_session_run(const struct TesseraSession *session,
                                  struct TesseraBinding *binding);

// Starts a run in the background and returns at once with `*out_run`. Inputs are checked
// before this returns. The binding may be changed or run again meanwhile: the run took its own
// copy of the inputs. At most `max_in_flight` runs are in flight; beyond, this blocks until
// one finishes.
//
// # Safety
//
// `session` is a live session; `binding` a live binding created for it; `out_run` valid for
// a write.
TesseraStatus tessera_session_submit(const struct TesseraSession *session,
                                     struct TesseraBinding *binding,
                                     struct TesseraRun **out_run);

// A new file descriptor (an eventfd) that becomes readable when the run completes, for
// `poll`/`epoll` loops or to hand to another process. Its 8-byte counter reads 1 after a
// success and 2 after a failure (whose error `tessera_run_wait` returns). The caller owns
// and closes it; each call gives a new one.
//
// # Safety
//
// `run` is a live run; `out_fd` valid for a write.
TesseraStatus tessera_run_fence_fd(const struct TesseraRun *run, int32_t *out_fd);

// Whether the run has completed (successfully or not), so `tessera_run_wait` will not block.
//
// # Safety
//
// `run` is a live run; `out_finished` valid for a write.
TesseraStatus tessera_run_is_finished(const struct TesseraRun *run, bool *out_finished);

// Waits for the run to complete and moves its outputs into the binding it was submitted
// from (replacing that binding's previous outputs), then returns the run's status. Once only:
// a second call fails with `TESSERA_STATUS_INVALID_ARGUMENT`. The run must still be destroyed.
//
// # Safety
//
// `run` is a live run.
TesseraStatus tessera_run_wait(struct TesseraRun *run);

// Destroys a run. A run not waited for finishes in the background and its outputs are
// dropped. Null does nothing.
//
// # Safety
//
// `run` is null or a live run, not used after this call.
void tessera_run_destroy(struct TesseraRun *run);

// How many outputs the last run left in the binding (the outputs not bound to descriptors).
//
// # Safety
//
// `binding` is a live binding; `out_count` valid for a write.
TesseraStatus tessera_binding_output_count(const struct TesseraBinding *binding, size_t *out_count);

// Describes output `index` of the last run (model order, bound outputs left out) into
// `out_view`, whose `struct_size` the caller sets.
//
// # Safety
//
// `binding` is a live binding; `out_view` points to `out_view->struct_size` writable bytes.
TesseraStatus tessera_binding_output(const struct TesseraBinding *binding,
                                     size_t index,
                                     struct TesseraTensorView *out_view);

// Describes the last run's output `name` into `out_view` (as `tessera_binding_output`).
//
// # Safety
//
// `binding` is a live binding; `name` a NUL-terminated string; `out_view` points to
// `out_view->struct_size` writable bytes.
TesseraStatus tessera_binding_output_by_name(const struct TesseraBinding *binding,
                                             const char *name,
                                             struct TesseraTensorView *out_view);

// Creates a context with the built-in drivers (`cpu`, `vnpu`). `options` may be null.
//
// # Safety
//
// `options` is null or a valid `TesseraContextOptions`; `out_context` is valid for a write.
TesseraStatus tessera_context_create(const struct TesseraContextOptions *options,
                                     struct TesseraContext **out_context);

// Destroys a context. Null does nothing.
//
// # Safety
//
// `context` is null or a live context, not used after this call.
void tessera_context_destroy(struct TesseraContext *context);

// How many devices the context's drivers see.
//
// # Safety
//
// `context` is a live context; `out_count` is valid for a write.
TesseraStatus tessera_context_device_count(const struct TesseraContext *context, size_t *out_count);

// Describes device `index` (from 0 to the count - 1) into `info`, whose `struct_size` the
// caller sets.
//
// # Safety
//
// `context` is a live context; `info` points to `info->struct_size` writable bytes.
TesseraStatus tessera_context_device_info(const struct TesseraContext *context,
                                          size_t index,
                                          struct TesseraDeviceInfo *info);

// The message of the last failed call on this thread, or `""` when the last call succeeded.
// Valid until the next `tessera_*` call on this thread (this one excepted); never null.
const char *tessera_last_error_message(void);

// The name of a status (`"TESSERA_STATUS_NOT_FOUND"`), or `"TESSERA_STATUS_UNKNOWN"` for a
// value this library does not know. A static string; never null.
const char *tessera_status_name(int32_t status);

// Loads the ONNX model at `path` (external data is resolved next to it) and builds a session:
// optimize, partition over the preferred devices, compile. `options` may be null.
//
// # Safety
//
// `context` is a live context; `path` a NUL-terminated string; `options` null or valid;
// `out_session` valid for a write.
TesseraStatus tessera_session_create_from_file(const struct TesseraContext *context,
                                               const char *path,
                                               const struct TesseraSessionOptions *options,
                                               struct TesseraSession **out_session);

// Builds a session from an ONNX model in memory (`len` bytes at `data`; external data is
// refused). The bytes are read during the call only. `options` may be null.
//
// # Safety
//
// `context` is a live context; `data` points to `len` readable bytes; `options` null or
// valid; `out_session` valid for a write.
TesseraStatus tessera_session_create_from_memory(const struct TesseraContext *context,
                                                 const void *data,
                                                 size_t len,
                                                 const struct TesseraSessionOptions *options,
                                                 struct TesseraSession **out_session);

// Destroys a session. Bindings and runs made from it keep what they need and stay usable;
// null does nothing.
//
// # Safety
//
// `session` is null or a live session, not used after this call.
void tessera_session_destroy(struct TesseraSession *session);

// How many inputs the model has.
//
// # Safety
//
// `session` is a live session; `out_count` valid for a write.
TesseraStatus tessera_session_input_count(const struct TesseraSession *session, size_t *out_count);

// How many outputs the model has.
//
// # Safety
//
// `session` is a live session; `out_count` valid for a write.
TesseraStatus tessera_session_output_count(const struct TesseraSession *session, size_t *out_count);

// Describes input `index` (its declared type: symbolic dimensions are -1).
//
// # Safety
//
// `session` is a live session; `info` points to `info->struct_size` writable bytes.
TesseraStatus tessera_session_input_info(const struct TesseraSession *session,
                                         size_t index,
                                         struct TesseraIoInfo *info);

// Describes output `index` (its type as inferred for the session's dimension values).
//
// # Safety
//
// `session` is a live session; `info` points to `info->struct_size` writable bytes.
TesseraStatus tessera_session_output_info(const struct TesseraSession *session,
                                          size_t index,
                                          struct TesseraIoInfo *info);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* TESSERA_H */
