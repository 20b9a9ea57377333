/* pyae inference library: load a pyae .safetensors model and run it without
 * Python. Plain C API (C++ underneath, no exceptions cross it, never aborts).
 *
 *   char err[256];
 *   pyae_model* m = pyae_model_load("model.safetensors", err, sizeof err);
 *   if (!m) { fprintf(stderr, "%s\n", err); return 1; }
 *   int d_in = pyae_model_input_dim(m, PYAE_PART_FULL);
 *   int d_out = pyae_model_output_dim(m, PYAE_PART_FULL);
 *   // input: (batch, d_in) floats, row-major; output: (batch, d_out)
 *   if (pyae_model_forward(m, PYAE_PART_FULL, input, batch, output, err, sizeof err) != 0) ...
 *   pyae_model_free(m);
 *
 * Parts: FULL (reconstruction), ENCODER (the code; for a VAE the posterior
 * [mu | logvar], 2 * latent_dim wide), DECODER (code -> output; for a VAE
 * z -> decoder mean). A VAE's FULL forward decodes the posterior mean.
 * A loaded model is read-only: one model may serve many threads at once.
 */
#ifndef PYAE_INFER_H
#define PYAE_INFER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pyae_model pyae_model;

typedef enum { PYAE_PART_FULL = 0, PYAE_PART_ENCODER = 1, PYAE_PART_DECODER = 2 } pyae_part;

/* Loads a model file; NULL on failure with a message in err (if non-NULL). */
pyae_model* pyae_model_load(const char* path, char* err, size_t err_len);

/* The same from bytes in memory (the file's contents). */
pyae_model* pyae_model_load_bytes(const unsigned char* data, size_t size, char* err,
                                  size_t err_len);

/* Widths of a part's input and output rows; -1 for a bad part. */
int pyae_model_input_dim(const pyae_model* model, pyae_part part);
int pyae_model_output_dim(const pyae_model* model, pyae_part part);

/* output (batch, output_dim) = part(input (batch, input_dim)). 0 on success,
 * -1 with a message in err otherwise. */
int pyae_model_forward(const pyae_model* model, pyae_part part, const float* input, int batch,
                       float* output, char* err, size_t err_len);

/* The arithmetic of the model's matrix products: "fp32" (the default), "bf16"
 * (operands rounded to bfloat16, float32 sums) or "int8" (weights quantised
 * per output channel, inputs per row; int32 sums), as pyae's precision=
 * setting. bf16 and int8 pack the weights once, here; they need AVX512-BF16
 * or AMX-BF16, and AVX512-VNNI or AMX-INT8. 0 on success, -1 with a message
 * in err otherwise (the model is unchanged). Not concurrently with forward. */
int pyae_model_set_precision(pyae_model* model, const char* precision, char* err,
                             size_t err_len);

void pyae_model_free(pyae_model* model);

#ifdef __cplusplus
}
#endif

#endif /* PYAE_INFER_H */
