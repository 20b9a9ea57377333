#include "models/layer_table.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace pyae {

namespace {

// At most this many parameters: the byte size of every buffer of N floats
// stays a valid ptrdiff_t (NumPy views, pointer arithmetic), and adding one
// more layer (< 2^62 + 2^31 parameters) cannot overflow the running count.
constexpr std::size_t kMaxParams =
    static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(float);

[[noreturn]] void bad(int l, const std::string& why) {
  throw std::invalid_argument("layer table row " + std::to_string(l) + ": " + why);
}

}  // namespace

const char* activation_name(Activation act) {
  switch (act) {
#define PYAE_CASE(name, code) \
  case Activation::name: return #name;
    PYAE_ACTIVATIONS(PYAE_CASE)
#undef PYAE_CASE
  }
  return nullptr;
}

Activation activation_from_name(const char* name) {
#define PYAE_MATCH(n, code) \
  if (std::strcmp(name, #n) == 0) return Activation::n;
  PYAE_ACTIVATIONS(PYAE_MATCH)
#undef PYAE_MATCH
  throw std::invalid_argument(std::string("unknown activation '") + name + "'");
}

LayerRole role_from_name(const char* name) {
#define PYAE_MATCH(n, code) \
  if (std::strcmp(name, #n) == 0) return LayerRole::n;
  PYAE_LAYER_ROLES(PYAE_MATCH)
#undef PYAE_MATCH
  throw std::invalid_argument(std::string("unknown layer role '") + name + "'");
}

LayerTable::LayerTable(std::vector<LayerSpec> rows) : layers_(std::move(rows)) {
  const int L = size();
  if (L < 2) throw std::invalid_argument("a layer table needs an encoder and a decoder layer");
  int heads = 0, first_decoder = -1;
  for (int l = 0; l < L; ++l) {
    LayerSpec& s = layers_[l];
    if (s.d_in < 1 || s.d_out < 1) bad(l, "widths must be >= 1");
    if (!is_valid(s.act)) bad(l, "unknown activation code " + std::to_string(static_cast<int>(s.act)));
    if (!is_valid(s.role)) bad(l, "unknown role code " + std::to_string(static_cast<int>(s.role)));
    const bool decoder = s.role == LayerRole::decoder;
    if (decoder && first_decoder < 0) first_decoder = l;
    if (!decoder && first_decoder >= 0) bad(l, "an encoder-side layer after the decoder");
    if (s.role == LayerRole::latent_head) {
      ++heads;
      if (s.d_out % 2 != 0) bad(l, "a latent head's output [mu | log sigma^2] must be even");
      if (s.act != Activation::identity) bad(l, "a latent head has the identity activation");
    }
    if (l + 1 < L) {
      const int feeds = s.role == LayerRole::latent_head ? s.d_out / 2 : s.d_out;
      if (layers_[l + 1].d_in != feeds)
        bad(l + 1, "input width " + std::to_string(layers_[l + 1].d_in) + " does not match " +
                       std::to_string(feeds) + " coming from the layer before");
    }
  }
  if (first_decoder < 1) bad(0, "needs at least one encoder layer before the decoder");
  if (heads > 1) bad(0, "at most one latent head");
  latent_layer_ = first_decoder - 1;
  if (heads == 1 && layers_[latent_layer_].role != LayerRole::latent_head)
    bad(latent_layer_, "the latent head must be the last encoder-side layer");
  if (layers_.back().d_out != features())
    bad(L - 1, "the output width must equal the input width");

  std::size_t cursor = 0;
  for (int l = 0; l < L; ++l) {
    LayerSpec& s = layers_[l];
    if (s.tied_to >= 0) {
      if (s.role != LayerRole::decoder) bad(l, "only decoder layers can be tied");
      if (s.tied_to >= l) bad(l, "tied to a later layer");
      const LayerSpec& k = layers_[s.tied_to];
      if (k.role != LayerRole::encoder || !k.owns_weight())
        bad(l, "tied to a layer that is not an encoder layer with its own weight");
      if (k.d_in != s.d_out || k.d_out != s.d_in) bad(l, "tied to a layer of another shape");
      s.weight_offset = k.weight_offset;
    } else if (s.tied_to != -1) {
      bad(l, "tied_to must be -1 or a layer index");
    } else {
      s.weight_offset = cursor;
      cursor += static_cast<std::size_t>(s.d_in) * s.d_out;
    }
    s.bias_offset = cursor;
    cursor += s.d_out;
    if (cursor > kMaxParams) bad(l, "the layer table has too many parameters");
  }
  num_params_ = cursor;
}

LayerTable LayerTable::autoencoder(int D, const std::vector<int>& hidden, Activation act,
                                   Activation output_act, bool tied) {
  if (hidden.empty()) throw std::invalid_argument("an autoencoder needs hidden layers");
  std::vector<int> widths{D};
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  widths.insert(widths.end(), hidden.rbegin() + 1, hidden.rend());
  widths.push_back(D);
  const int L = static_cast<int>(widths.size()) - 1, half = L / 2;
  std::vector<LayerSpec> rows(L);
  for (int l = 0; l < L; ++l) {
    rows[l].d_in = widths[l];
    rows[l].d_out = widths[l + 1];
    rows[l].act = l == L - 1 ? output_act : act;
    rows[l].role = l < half ? LayerRole::encoder : LayerRole::decoder;
    if (tied && l >= half) rows[l].tied_to = L - 1 - l;
  }
  return LayerTable(std::move(rows));
}

LayerTable LayerTable::vae(int D, const std::vector<int>& hidden, int Z, Activation act,
                           Activation output_act) {
  if (Z < 1 || Z > std::numeric_limits<int>::max() / 2)
    throw std::invalid_argument("latent_dim must be in [1, 2^30)");
  std::vector<LayerSpec> rows;
  auto add = [&](int d_in, int d_out, Activation a, LayerRole role) {
    LayerSpec s;
    s.d_in = d_in;
    s.d_out = d_out;
    s.act = a;
    s.role = role;
    rows.push_back(s);
  };
  int width = D;
  for (int h : hidden) {
    add(width, h, act, LayerRole::encoder);
    width = h;
  }
  add(width, 2 * Z, Activation::identity, LayerRole::latent_head);
  width = Z;
  for (auto it = hidden.rbegin(); it != hidden.rend(); ++it) {
    add(width, *it, act, LayerRole::decoder);
    width = *it;
  }
  add(width, D, output_act, LayerRole::decoder);
  return LayerTable(std::move(rows));
}

int LayerTable::widest() const {
  int w = 0;
  for (const LayerSpec& s : layers_) w = std::max({w, s.d_in, s.d_out});
  return w;
}

}  // namespace pyae
