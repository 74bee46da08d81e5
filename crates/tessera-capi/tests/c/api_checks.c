/* Checks of the C API's error paths, versioned structs, descriptors and async runs, run by
 * tests/c_api.rs. Usage: api_checks MODEL.onnx (examples/tiny_cnn/model.onnx). */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tessera.h"

static int failures = 0;
#define EXPECT(cond) do { if (!(cond)) { failures++; \
    fprintf(stderr, "%s:%d: failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, tessera_last_error_message()); } } while (0)
#define EXPECT_STATUS(call, want) do { TesseraStatus s_ = (call); if (s_ != (want)) { failures++; \
    fprintf(stderr, "%s:%d: %s gave %s, expected %s (last error: %s)\n", __FILE__, __LINE__, #call, \
            tessera_status_name(s_), tessera_status_name(want), tessera_last_error_message()); } } while (0)
#define MESSAGE_HAS(text) EXPECT(strstr(tessera_last_error_message(), (text)) != NULL)

enum { N = 2 * 3 * 32 * 32 };
static const int64_t SHAPE[4] = { 2, 3, 32, 32 };
static float input[N];

/* The first output's bytes of a run of `io`, copied into `probs` (20 floats). */
static int read_probs(TesseraBinding *io, float *probs) {
    TesseraTensorView v = { .struct_size = sizeof v };
    if (tessera_binding_output(io, 0, &v) != TESSERA_STATUS_OK || v.byte_len != 20 * sizeof(float)) return 0;
    memcpy(probs, v.data, v.byte_len);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    for (int i = 0; i < N; i++) input[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;

    /* Versions. */
    EXPECT(tessera_abi_version() == TESSERA_ABI_VERSION);
    EXPECT(strlen(tessera_version()) > 0);
    EXPECT(strcmp(tessera_status_name(TESSERA_STATUS_NOT_FOUND), "TESSERA_STATUS_NOT_FOUND") == 0);
    EXPECT(strcmp(tessera_status_name(12345), "TESSERA_STATUS_UNKNOWN") == 0);

    /* Null arguments. */
    EXPECT_STATUS(tessera_context_create(NULL, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    MESSAGE_HAS("out_context");
    TesseraContext *ctx = NULL;
    EXPECT_STATUS(tessera_context_create(NULL, &ctx), TESSERA_STATUS_OK);
    EXPECT(strcmp(tessera_last_error_message(), "") == 0);
    EXPECT_STATUS(tessera_context_device_count(NULL, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    tessera_context_destroy(NULL);

    /* Devices, and an info struct from an older, smaller header: only its fields are written. */
    size_t ndev = 0;
    EXPECT_STATUS(tessera_context_device_count(ctx, &ndev), TESSERA_STATUS_OK);
    EXPECT(ndev >= 1);
    TesseraDeviceInfo dev = { .struct_size = sizeof dev };
    EXPECT_STATUS(tessera_context_device_info(ctx, 0, &dev), TESSERA_STATUS_OK);
    EXPECT(dev.uri != NULL && dev.driver != NULL && dev.cores >= 1);
    struct { struct { size_t struct_size; const char *uri; } old; uint64_t canary; } small;
    small.old.struct_size = sizeof small.old; small.old.uri = NULL; small.canary = 0xfeedfacecafebeefull;
    EXPECT_STATUS(tessera_context_device_info(ctx, 0, (TesseraDeviceInfo *)&small.old), TESSERA_STATUS_OK);
    EXPECT(small.old.uri != NULL && strcmp(small.old.uri, dev.uri) == 0);
    EXPECT(small.canary == 0xfeedfacecafebeefull);
    EXPECT(small.old.struct_size == sizeof small.old);
    EXPECT_STATUS(tessera_context_device_info(ctx, ndev, &dev), TESSERA_STATUS_NOT_FOUND);
    TesseraDeviceInfo bad = { .struct_size = 0 };
    EXPECT_STATUS(tessera_context_device_info(ctx, 0, &bad), TESSERA_STATUS_INVALID_ARGUMENT);
    MESSAGE_HAS("struct_size");

    /* Session creation failures. */
    TesseraSession *s = NULL;
    EXPECT_STATUS(tessera_session_create_from_file(ctx, "/nonexistent/model.onnx", NULL, &s), TESSERA_STATUS_INVALID_MODEL);
    EXPECT_STATUS(tessera_session_create_from_file(ctx, NULL, NULL, &s), TESSERA_STATUS_INVALID_ARGUMENT);
    EXPECT_STATUS(tessera_session_create_from_memory(ctx, "garbage", 7, NULL, &s), TESSERA_STATUS_INVALID_MODEL);
    /* Options from an older header: only the device list is known; it is read. */
    const char *nosuch[] = { "nosuch://0" };
    struct { size_t struct_size; const char *const *devices; size_t num_devices; } old_opts =
        { sizeof old_opts, nosuch, 1 };
    EXPECT_STATUS(tessera_session_create_from_file(ctx, argv[1], (const TesseraSessionOptions *)&old_opts, &s), TESSERA_STATUS_DEVICE);
    MESSAGE_HAS("nosuch");
    const char *bad_utf8[] = { "cpu\xff" };
    TesseraSessionOptions opts = { .struct_size = sizeof opts, .devices = bad_utf8, .num_devices = 1 };
    EXPECT_STATUS(tessera_session_create_from_file(ctx, argv[1], &opts, &s), TESSERA_STATUS_INVALID_ARGUMENT);
    MESSAGE_HAS("UTF-8");
    TesseraDim dim = { "nosuch_dim", 1 };
    opts = (TesseraSessionOptions){ .struct_size = sizeof opts, .dims = &dim, .num_dims = 1 };
    EXPECT_STATUS(tessera_session_create_from_file(ctx, argv[1], &opts, &s), TESSERA_STATUS_INVALID_ARGUMENT);
    MESSAGE_HAS("nosuch_dim");

    /* A working session; its inputs and outputs. */
    dim = (TesseraDim){ "batch", 2 };
    opts = (TesseraSessionOptions){ .struct_size = sizeof opts, .dims = &dim, .num_dims = 1, .max_in_flight = 2 };
    EXPECT_STATUS(tessera_session_create_from_file(ctx, argv[1], &opts, &s), TESSERA_STATUS_OK);
    if (!s) { fprintf(stderr, "no session; stopping\n"); return 1; }
    tessera_context_destroy(ctx); /* sessions outlive their context */
    size_t nin = 0, nout = 0;
    EXPECT_STATUS(tessera_session_input_count(s, &nin), TESSERA_STATUS_OK);
    EXPECT_STATUS(tessera_session_output_count(s, &nout), TESSERA_STATUS_OK);
    EXPECT(nin == 1 && nout == 1);
    TesseraIoInfo info = { .struct_size = sizeof info };
    EXPECT_STATUS(tessera_session_input_info(s, 0, &info), TESSERA_STATUS_OK);
    EXPECT(strcmp(info.name, "image") == 0 && info.dtype == TESSERA_DTYPE_FLOAT && info.rank == 4);
    EXPECT(info.shape[0] == -1 && info.shape[1] == 3);
    EXPECT_STATUS(tessera_session_output_info(s, 0, &info), TESSERA_STATUS_OK);
    EXPECT(strcmp(info.name, "probs") == 0 && info.rank == 2 && info.shape[0] == 2 && info.shape[1] == 10);
    EXPECT_STATUS(tessera_session_output_info(s, 1, &info), TESSERA_STATUS_NOT_FOUND);

    /* Binding failures. */
    TesseraBinding *io = NULL;
    EXPECT_STATUS(tessera_binding_create(s, &io), TESSERA_STATUS_OK);
    EXPECT_STATUS(tessera_binding_bind_input(io, "nosuch", TESSERA_DTYPE_FLOAT, SHAPE, 4, input, sizeof input), TESSERA_STATUS_NOT_FOUND);
    MESSAGE_HAS("not an input");
    EXPECT_STATUS(tessera_binding_bind_input(io, NULL, TESSERA_DTYPE_FLOAT, SHAPE, 4, input, sizeof input), TESSERA_STATUS_INVALID_ARGUMENT);
    EXPECT_STATUS(tessera_binding_bind_input(io, "image", TESSERA_DTYPE_FLOAT, SHAPE, 4, NULL, sizeof input), TESSERA_STATUS_INVALID_ARGUMENT);
    EXPECT_STATUS(tessera_binding_bind_input(io, "image", 8 /* ONNX STRING */, SHAPE, 4, input, sizeof input), TESSERA_STATUS_INVALID_ARGUMENT);
    MESSAGE_HAS("TesseraDtype");
    const int64_t negative[4] = { 2, -3, 32, 32 };
    EXPECT_STATUS(tessera_binding_bind_input(io, "image", TESSERA_DTYPE_FLOAT, negative, 4, input, sizeof input), TESSERA_STATUS_INVALID_ARGUMENT);
    EXPECT_STATUS(tessera_binding_bind_input(io, "image", TESSERA_DTYPE_FLOAT, SHAPE, 4, input, sizeof input - 4), TESSERA_STATUS_INVALID_INPUT);
    EXPECT_STATUS(tessera_session_run(s, io), TESSERA_STATUS_INVALID_INPUT); /* nothing bound */
    MESSAGE_HAS("missing");
    /* Wrong dtype: the same bytes as int32. */
    EXPECT_STATUS(tessera_binding_bind_input(io, "image", TESSERA_DTYPE_INT32, SHAPE, 4, input, sizeof input), TESSERA_STATUS_OK);
    EXPECT_STATUS(tessera_session_run(s, io), TESSERA_STATUS_INVALID_INPUT);
    MESSAGE_HAS("dtype");
    EXPECT_STATUS(tessera_binding_bind_output_fd(io, "probs", TESSERA_DTYPE_FLOAT, SHAPE, 2, -1, 0, 0), TESSERA_STATUS_INVALID_ARGUMENT);
    EXPECT_STATUS(tessera_binding_bind_output_fd(io, "nosuch", TESSERA_DTYPE_FLOAT, SHAPE, 2, 0, 0, 0), TESSERA_STATUS_NOT_FOUND);

    /* A synchronous run with host memory. */
    float host[20], viafd[20], async[20];
    EXPECT_STATUS(tessera_binding_bind_input(io, "image", TESSERA_DTYPE_FLOAT, SHAPE, 4, input, sizeof input), TESSERA_STATUS_OK);
    EXPECT_STATUS(tessera_session_run(s, io), TESSERA_STATUS_OK);
    EXPECT(read_probs(io, host));
    TesseraTensorView view = { .struct_size = sizeof view };
    EXPECT_STATUS(tessera_binding_output_by_name(io, "probs", &view), TESSERA_STATUS_OK);
    EXPECT(view.dtype == TESSERA_DTYPE_FLOAT && view.rank == 2 && view.shape[1] == 10);
    EXPECT_STATUS(tessera_binding_output_by_name(io, "nosuch", &view), TESSERA_STATUS_NOT_FOUND);
    EXPECT_STATUS(tessera_binding_output(io, 1, &view), TESSERA_STATUS_NOT_FOUND);
    float sum = 0; for (int i = 0; i < 10; i++) sum += host[i];
    EXPECT(sum > 0.99f && sum < 1.01f);

    /* Input and output in memfds: same result; the bound output is not kept in the binding. */
    int in_fd = memfd_create("input", MFD_CLOEXEC), out_fd = memfd_create("probs", MFD_CLOEXEC);
    EXPECT(in_fd >= 0 && out_fd >= 0);
    EXPECT(write(in_fd, input, sizeof input) == (ssize_t)sizeof input);
    EXPECT(ftruncate(out_fd, sizeof viafd) == 0);
    TesseraBinding *fdio = NULL;
    EXPECT_STATUS(tessera_binding_create(s, &fdio), TESSERA_STATUS_OK);
    const int64_t out_shape[2] = { 2, 10 };
    EXPECT_STATUS(tessera_binding_bind_input_fd(fdio, "image", TESSERA_DTYPE_FLOAT, SHAPE, 4, in_fd, 0, 0), TESSERA_STATUS_OK);
    EXPECT_STATUS(tessera_binding_bind_output_fd(fdio, "probs", TESSERA_DTYPE_FLOAT, out_shape, 2, out_fd, 0, sizeof viafd), TESSERA_STATUS_OK);
    close(in_fd); /* the binding holds its own descriptor */
    EXPECT_STATUS(tessera_session_run(s, fdio), TESSERA_STATUS_OK);
    size_t left = 99;
    EXPECT_STATUS(tessera_binding_output_count(fdio, &left), TESSERA_STATUS_OK);
    EXPECT(left == 0);
    EXPECT(pread(out_fd, viafd, sizeof viafd, 0) == (ssize_t)sizeof viafd);
    EXPECT(memcmp(host, viafd, sizeof host) == 0);
    close(out_fd);
    tessera_binding_destroy(fdio);

    /* An asynchronous run: poll its fence, wait, read. */
    TesseraRun *run = NULL;
    EXPECT_STATUS(tessera_session_submit(s, io, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    EXPECT_STATUS(tessera_session_submit(s, io, &run), TESSERA_STATUS_OK);
    int fence = -1;
    EXPECT_STATUS(tessera_run_fence_fd(run, &fence), TESSERA_STATUS_OK);
    struct pollfd pfd = { .fd = fence, .events = POLLIN };
    EXPECT(poll(&pfd, 1, 60000) == 1);
    uint64_t counter = 0;
    EXPECT(read(fence, &counter, sizeof counter) == (ssize_t)sizeof counter && counter == 1);
    close(fence);
    bool finished = false;
    EXPECT_STATUS(tessera_run_is_finished(run, &finished), TESSERA_STATUS_OK);
    EXPECT_STATUS(tessera_run_wait(run), TESSERA_STATUS_OK);
    EXPECT(read_probs(io, async));
    EXPECT(memcmp(host, async, sizeof host) == 0);
    EXPECT_STATUS(tessera_run_wait(run), TESSERA_STATUS_INVALID_ARGUMENT);
    MESSAGE_HAS("already");
    tessera_run_destroy(run);
    /* A run destroyed without waiting finishes in the background. */
    EXPECT_STATUS(tessera_session_submit(s, io, &run), TESSERA_STATUS_OK);
    tessera_run_destroy(run);

    /* A binding of another session is refused. */
    TesseraContext *ctx2 = NULL; TesseraSession *s2 = NULL;
    EXPECT_STATUS(tessera_context_create(NULL, &ctx2), TESSERA_STATUS_OK);
    EXPECT_STATUS(tessera_session_create_from_file(ctx2, argv[1], NULL, &s2), TESSERA_STATUS_OK);
    EXPECT_STATUS(tessera_session_run(s2, io), TESSERA_STATUS_INVALID_ARGUMENT);
    tessera_session_destroy(s2);
    tessera_context_destroy(ctx2);

    EXPECT_STATUS(tessera_binding_clear(io), TESSERA_STATUS_OK);
    EXPECT_STATUS(tessera_binding_output_count(io, &left), TESSERA_STATUS_OK);
    EXPECT(left == 0);
    tessera_session_destroy(s); /* bindings outlive their session */
    EXPECT_STATUS(tessera_binding_output_count(io, &left), TESSERA_STATUS_OK);
    tessera_binding_destroy(io);

    if (failures) { fprintf(stderr, "%d check(s) failed\n", failures); return 1; }
    printf("all checks passed\n");
    return 0;
}
