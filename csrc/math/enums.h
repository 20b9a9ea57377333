// Every enumeration pyae has, defined once. Each list is an X-macro: the
// enum, its names for Python (bindings/bind_enums.cpp makes real Python
// enums of them), the model file and the C inference library all expand the
// same list, so adding a value is one line here plus its cases, which the
// compiler finds (-Werror=switch: no switch over these has a `default:`).
// NVRTC compiles this header too (the GPU kernels take the codes as ints).
#pragma once

// X(name, code)
#define PYAE_ACTIVATIONS(X) \
  X(identity, 0)            \
  X(sigmoid, 1)             \
  X(relu, 2)                \
  X(tanh, 3)                \
  X(leaky_relu, 4)          \
  X(elu, 5)                 \
  X(gelu, 6)                \
  X(silu, 7)

// Reconstruction losses (the VAE's decoders: bce is Bernoulli, mse is a
// unit-variance Gaussian).
#define PYAE_LOSSES(X) \
  X(mse, 0)            \
  X(bce, 1)

#define PYAE_OPTIMIZERS(X) \
  X(adam, 0)               \
  X(sgd, 1)

#define PYAE_NOISE_KINDS(X) \
  X(none, 0)                \
  X(gaussian, 1)            \
  X(salt_and_pepper, 2)     \
  X(masking, 3)

// What a row of the layer table is: an encoder layer, the VAE's latent head
// (its output is [mu | log sigma^2], reparameterised before the decoder), or
// a decoder layer.
#define PYAE_LAYER_ROLES(X) \
  X(encoder, 0)             \
  X(latent_head, 1)         \
  X(decoder, 2)

// The arithmetic of a network's GEMMs: fp32, or bf16 operands with fp32
// accumulation (weights, gradients and optimiser state stay fp32).
// int8 is for inference only (weights quantised per output channel once,
// inputs per row at each call; kernels/int8_gemm.h).
#define PYAE_PRECISIONS(X) \
  X(fp32, 0)               \
  X(bf16, 1)               \
  X(int8, 2)

#define PYAE_ENUM_VALUE(name, code) name = code,
#define PYAE_ENUM_COUNT(name, code) +1

namespace pyae {

enum class Activation : int { PYAE_ACTIVATIONS(PYAE_ENUM_VALUE) };
enum class Loss : int { PYAE_LOSSES(PYAE_ENUM_VALUE) };
enum class OptimizerKind : int { PYAE_OPTIMIZERS(PYAE_ENUM_VALUE) };
enum class NoiseKind : int { PYAE_NOISE_KINDS(PYAE_ENUM_VALUE) };
enum class LayerRole : int { PYAE_LAYER_ROLES(PYAE_ENUM_VALUE) };
enum class Precision : int { PYAE_PRECISIONS(PYAE_ENUM_VALUE) };

constexpr int kNumActivations = 0 PYAE_ACTIVATIONS(PYAE_ENUM_COUNT);

// True for the values the lists define. A pybind11 cast can make an enum of
// any int, so entry points check before anything runs on a value (host code
// only: NVRTC accepts no unannotated functions).
#if !defined(__CUDACC_RTC__)
#define PYAE_DEFINE_IS_VALID(Enum, LIST)         \
  inline constexpr bool is_valid(Enum value) {   \
    switch (value) {                             \
      LIST(PYAE_##Enum##_CASE)                   \
      return true;                               \
    }                                            \
    return false;                                \
  }
#define PYAE_Activation_CASE(name, code) case Activation::name:
#define PYAE_Loss_CASE(name, code) case Loss::name:
#define PYAE_OptimizerKind_CASE(name, code) case OptimizerKind::name:
#define PYAE_NoiseKind_CASE(name, code) case NoiseKind::name:
#define PYAE_LayerRole_CASE(name, code) case LayerRole::name:
#define PYAE_Precision_CASE(name, code) case Precision::name:
PYAE_DEFINE_IS_VALID(Activation, PYAE_ACTIVATIONS)
PYAE_DEFINE_IS_VALID(Loss, PYAE_LOSSES)
PYAE_DEFINE_IS_VALID(OptimizerKind, PYAE_OPTIMIZERS)
PYAE_DEFINE_IS_VALID(NoiseKind, PYAE_NOISE_KINDS)
PYAE_DEFINE_IS_VALID(LayerRole, PYAE_LAYER_ROLES)
PYAE_DEFINE_IS_VALID(Precision, PYAE_PRECISIONS)
#endif

// Leaky ReLU's negative slope and ELU's alpha (PyTorch's defaults).
constexpr float kLeakyReluSlope = 0.01f;
constexpr float kEluAlpha = 1.0f;

// GELU and SiLU are not invertible: their gradient needs the pre-activation,
// which training keeps for them (every other gradient is a function of the
// output, so those layers keep nothing extra).
#if defined(__CUDACC__)
__host__ __device__
#endif
inline constexpr bool needs_preactivation(Activation act) {
  return act == Activation::gelu || act == Activation::silu;
}

}  // namespace pyae
