// The layer table: the only description of a model's architecture. One row
// per dense layer (its widths, activation, role and weight source); the
// training network, the GPU network, the float64 reference, ONNX export, the
// C inference library and the model file all read it, and the two builders
// below are the only code that derives it from hyperparameters.
//
// Rules (checked by the constructor): layers chain (d_out of one is d_in of
// the next, except after the latent head, whose [mu | log sigma^2] output
// is 2Z wide and feeds Z to the decoder); the last layer gives back the
// first layer's width; roles run encoder..., at most one latent_head (the
// last encoder-side layer, identity activation), decoder...; a decoder layer
// may be tied to an encoder layer k of transposed shape and then uses k's
// weight transposed instead of its own.
#pragma once

#include <cstddef>
#include <vector>

#include "math/enums.h"

namespace pyae {

struct LayerSpec {
  int d_in = 0, d_out = 0;
  Activation act = Activation::identity;
  LayerRole role = LayerRole::encoder;
  int tied_to = -1;                // -1: own weight; k: layer k's weight, transposed
  std::size_t weight_offset = 0;   // into the flat parameters: (d_out, d_in), or layer k's
                                   // (d_in, d_out) storage when tied
  std::size_t bias_offset = 0;     // (d_out)
  bool owns_weight() const { return tied_to < 0; }
};

class LayerTable {
 public:
  LayerTable() = default;
  // Validates the rows and assigns parameter offsets in row order (weight,
  // then bias, for each layer; a tied layer has only its bias).
  explicit LayerTable(std::vector<LayerSpec> rows);

  // D -> hidden... -> mirrored hidden... -> D; the code is the output of
  // the innermost hidden layer. tied: decoder layers reuse the mirrored
  // encoder weights transposed.
  static LayerTable autoencoder(int D, const std::vector<int>& hidden, Activation act,
                                Activation output_act, bool tied);
  // D -> hidden... -> head (2Z: mu, log sigma^2) | z (Z) -> mirrored hidden... -> D.
  static LayerTable vae(int D, const std::vector<int>& hidden, int Z, Activation act,
                        Activation output_act);

  const std::vector<LayerSpec>& layers() const { return layers_; }
  const LayerSpec& operator[](int l) const { return layers_[l]; }
  int size() const { return static_cast<int>(layers_.size()); }
  std::size_t num_params() const { return num_params_; }
  int features() const { return layers_.front().d_in; }
  // The innermost encoder layer: its output is the code (for a VAE it is
  // the latent head, whose mu is the code). The decoder starts after it.
  int latent_layer() const { return latent_layer_; }
  int decoder_start() const { return latent_layer_ + 1; }
  bool variational() const { return layers_[latent_layer_].role == LayerRole::latent_head; }
  // Width of the data entering layer l (l == size(): the network's output).
  int input_width(int l) const { return l < size() ? layers_[l].d_in : layers_.back().d_out; }
  int widest() const;

 private:
  std::vector<LayerSpec> layers_;
  std::size_t num_params_ = 0;
  int latent_layer_ = 0;
};

// Activation names as the Python API, the model file and the C library
// spell them; nullptr for a code outside the enum.
const char* activation_name(Activation act);
// Throws std::invalid_argument naming the unknown value.
Activation activation_from_name(const char* name);
LayerRole role_from_name(const char* name);

}  // namespace pyae
