/* Runs examples/tiny_cnn on the CPU through Tessera's C API and prints each row's argmax.
 * Usage: run_model MODEL.onnx INPUT.npy   (a little-endian float32 .npy) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tessera.h"

#define CHECK(call) do { TesseraStatus s_ = (call); if (s_ != TESSERA_STATUS_OK) { \
    fprintf(stderr, "%s: %s: %s\n", #call, tessera_status_name(s_), tessera_last_error_message()); \
    return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s MODEL.onnx INPUT.npy\n", argv[0]); return 2; }
    FILE *f = fopen(argv[2], "rb");
    static char buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (!f || n < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) { fprintf(stderr, "bad .npy\n"); return 1; }
    fclose(f);
    size_t hlen = buf[6] == 1 ? (size_t)((unsigned char)buf[8] | (unsigned char)buf[9] << 8) : (size_t)*(uint32_t *)(buf + 8);
    size_t start = buf[6] == 1 ? 10 + hlen : 12 + hlen;
    int64_t shape[8]; size_t rank = 0;
    char *p = strstr(buf + 10, "'shape': (");  /* the header is text; bytes 0-9 are not */
    if (!p) { fprintf(stderr, "no shape in the .npy header\n"); return 1; }
    for (p += 10; rank < 8 && *p != ')'; rank++) {
        shape[rank] = strtoll(p, &p, 10);
        while (*p == ',' || *p == ' ') p++;
    }

    TesseraContext *ctx; TesseraSession *session; TesseraBinding *io;
    const char *devices[] = { "cpu" };
    TesseraSessionOptions opts = { .struct_size = sizeof opts, .devices = devices, .num_devices = 1 };
    CHECK(tessera_context_create(NULL, &ctx));
    CHECK(tessera_session_create_from_file(ctx, argv[1], &opts, &session));
    CHECK(tessera_binding_create(session, &io));
    CHECK(tessera_binding_bind_input(io, "image", TESSERA_DTYPE_FLOAT, shape, rank, buf + start, n - start));
    CHECK(tessera_session_run(session, io));

    TesseraTensorView out = { .struct_size = sizeof out };
    CHECK(tessera_binding_output(io, 0, &out));
    if (out.dtype != TESSERA_DTYPE_FLOAT || out.rank != 2) { fprintf(stderr, "unexpected output\n"); return 1; }
    printf("%s shape [%lld, %lld]\nargmax", out.name, (long long)out.shape[0], (long long)out.shape[1]);
    const float *probs = out.data;
    for (int64_t row = 0; row < out.shape[0]; row++) {
        int64_t best = 0;
        for (int64_t j = 1; j < out.shape[1]; j++)
            if (probs[row * out.shape[1] + j] > probs[row * out.shape[1] + best]) best = j;
        printf(" %lld", (long long)best);
    }
    printf("\n");
    tessera_binding_destroy(io);
    tessera_session_destroy(session);
    tessera_context_destroy(ctx);
    return 0;
}
