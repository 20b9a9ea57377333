/* Runs a pyae model on rows of float32 read from a file.
 *
 *   pyae_infer_example MODEL PART INPUT.f32 OUTPUT.f32 [PRECISION]
 *
 * PART is full, encoder or decoder; INPUT holds (n, input_dim) float32 rows
 * (raw, little-endian); OUTPUT receives (n, output_dim). PRECISION is fp32
 * (the default), bf16 or int8 (pyae_model_set_precision). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyae_infer.h"

static int fail(const char* msg) {
  fprintf(stderr, "%s\n", msg);
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6)
    return fail("usage: pyae_infer_example MODEL full|encoder|decoder IN OUT [fp32|bf16|int8]");
  pyae_part part;
  if (strcmp(argv[2], "full") == 0) part = PYAE_PART_FULL;
  else if (strcmp(argv[2], "encoder") == 0) part = PYAE_PART_ENCODER;
  else if (strcmp(argv[2], "decoder") == 0) part = PYAE_PART_DECODER;
  else return fail("PART must be full, encoder or decoder");

  char err[512];
  pyae_model* model = pyae_model_load(argv[1], err, sizeof err);
  if (!model) return fail(err);
  if (argc == 6 && pyae_model_set_precision(model, argv[5], err, sizeof err) != 0) {
    pyae_model_free(model);
    return fail(err);
  }
  int d_in = pyae_model_input_dim(model, part), d_out = pyae_model_output_dim(model, part);

  FILE* in = fopen(argv[3], "rb");
  if (!in) { pyae_model_free(model); return fail("cannot open the input file"); }
  fseek(in, 0, SEEK_END);
  long bytes = ftell(in);
  fseek(in, 0, SEEK_SET);
  if (bytes < 0 || bytes % (long)(sizeof(float) * d_in) != 0) {
    fclose(in);
    pyae_model_free(model);
    return fail("input size is not a whole number of rows");
  }
  int n = (int)(bytes / (long)(sizeof(float) * d_in));
  float* x = malloc((size_t)bytes + 1);
  float* y = malloc(sizeof(float) * (size_t)n * (size_t)d_out + 1);
  int ok = x && y && fread(x, 1, (size_t)bytes, in) == (size_t)bytes;
  fclose(in);
  if (ok && pyae_model_forward(model, part, x, n, y, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    ok = 0;
  }
  if (ok) {
    FILE* out = fopen(argv[4], "wb");
    ok = out && fwrite(y, sizeof(float), (size_t)n * (size_t)d_out, out) == (size_t)n * (size_t)d_out;
    if (out) fclose(out);
  }
  free(x);
  free(y);
  pyae_model_free(model);
  if (ok) printf("%d rows: %d -> %d features\n", n, d_in, d_out);
  return ok ? 0 : 1;
}
