// pyae inference library: the model-file loader (untrusted input) and a
// plain forward pass. Self-contained: no BLAS, no Python.
#include "pyae_infer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../kernels/bf16_gemm.h"
#include "../kernels/int8_gemm.h"
#include "../math/elementwise_math.h"
#include "../models/layer_table.h"
#include "json.h"

namespace {

using pyae::Activation;
using pyae::json::Value;

constexpr std::size_t kMaxFileBytes = std::size_t(4) << 30;  // 4 GiB
constexpr std::size_t kMaxHeaderBytes = std::size_t(16) << 20;  // 16 MiB
constexpr long kMaxWidth = 1 << 24;
constexpr int kMaxLayers = 256;

struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Layer {
  int d_in, d_out;
  Activation act;
  std::vector<float> weight;  // (d_out, d_in), tied layers already transposed
  std::vector<float> bias;    // (d_out)
};

Activation activation(const std::string& name) {
  try {
    return pyae::activation_from_name(name.c_str());
  } catch (const std::invalid_argument& e) {
    throw LoadError(e.what());
  }
}

long as_int(const Value& v, const char* what, long lo, long hi) {
  if (!v.is(Value::Kind::number) || !v.integer || v.number < lo ||
      v.number > hi)
    throw LoadError(std::string("bad ") + what);
  return static_cast<long>(v.number);
}

const std::string& as_string(const Value& v, const char* what) {
  if (!v.is(Value::Kind::string)) throw LoadError(std::string(what) + " must be a string");
  return v.string;
}

}  // namespace

struct pyae_model {
  std::vector<Layer> layers;
  // The model's feature scaling (empty: none): the network sees
  // (x - offset) * factor and its outputs are mapped back.
  std::vector<float> scale_offset, scale_factor;  // (n_features) each
  int decoder_start = 0;  // the layer table's decoder_start
  int latent = 0;     // VAE latent_dim (0 for autoencoders)
  bool vae = false;
  // precision: every layer's weight packed for its path (empty in fp32).
  pyae::Bf16Path bf16_path = pyae::Bf16Path::none;
  pyae::Int8Path int8_path = pyae::Int8Path::none;
  std::vector<std::unique_ptr<pyae::Bf16PackedB>> bf16;
  std::vector<std::unique_ptr<pyae::Int8PackedB>> int8;

  static std::unique_ptr<pyae_model> from_bytes(const unsigned char* data, std::size_t size);
  void run(int first, int last, const float* in, int batch, float* out) const;
};

namespace {

// The tensors of a safetensors file: name -> (shape, bytes), bounds-checked.
// CRC-32 (the zlib / IEEE 802.3 one) of bytes (n).
// A fuzzing build (the libFuzzer convention's macro) computes the checksums
// but does not enforce them, so mutations reach the checks behind them.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool kEnforceChecksums = false;
#else
constexpr bool kEnforceChecksums = true;
#endif

std::uint32_t crc32(const unsigned char* bytes, std::size_t n) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ bytes[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

struct TensorTable {
  const unsigned char* data = nullptr;
  std::size_t data_size = 0;
  Value header;

  // The bytes of float32 tensor `name`, checked to have shape (rows, cols)
  // (cols 0: shape (rows)) and finite values; offsets were checked already.
  const unsigned char* finite_f32(const std::string& name, long rows, long cols) const {
    const Value* t = header.find(name);
    if (t == nullptr) throw LoadError("missing tensor '" + name + "'");
    if (as_string(t->at("dtype"), "dtype") != "F32")
      throw LoadError("tensor '" + name + "' is not float32");
    const Value& shape = t->at("shape");
    std::vector<long> want = cols > 0 ? std::vector<long>{rows, cols} : std::vector<long>{rows};
    if (!shape.is(Value::Kind::array) || shape.array.size() != want.size())
      throw LoadError("tensor '" + name + "' has the wrong rank");
    for (std::size_t i = 0; i < want.size(); ++i)
      if (as_int(shape.array[i], "shape", 0, static_cast<long>(data_size)) != want[i])
        throw LoadError("tensor '" + name + "' has the wrong shape");
    const auto begin = static_cast<std::size_t>(t->at("data_offsets").array[0].number);
    const std::size_t count = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols > 0 ? cols : 1);
    const unsigned char* bytes = data + begin;  // little-endian, maybe unaligned
    for (std::size_t i = 0; i < count; ++i) {
      float v;
      std::memcpy(&v, bytes + i * sizeof v, sizeof v);
      if (!std::isfinite(v)) throw LoadError("tensor '" + name + "' contains NaN or Inf");
    }
    return bytes;
  }

  // Tensor `name` of any shape: float32 and finite (offsets checked already).
  void check_finite_f32(const std::string& name) const {
    const Value& t = header.at(name);
    if (as_string(t.at("dtype"), "dtype") != "F32")
      throw LoadError("tensor '" + name + "' is not float32");
    const Value& off = t.at("data_offsets");
    const auto begin = static_cast<std::size_t>(off.array[0].number);
    const auto end = static_cast<std::size_t>(off.array[1].number);
    for (std::size_t at = begin; at < end; at += sizeof(float)) {
      float v;
      std::memcpy(&v, data + at, sizeof v);
      if (!std::isfinite(v)) throw LoadError("tensor '" + name + "' contains NaN or Inf");
    }
  }

  std::vector<float> get(const std::string& name, long rows, long cols) const {
    const unsigned char* values = finite_f32(name, rows, cols);
    std::vector<float> out(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols > 0 ? cols : 1));
    if (!out.empty()) std::memcpy(out.data(), values, out.size() * sizeof(float));
    return out;
  }
};

// Checks every tensor entry of the header (not only those the model uses):
// known dtype, sane shape, a byte length matching the shape, and byte ranges
// that tile the data section exactly, in order (the safetensors rule, which
// pyae/_io.py applies too).
void validate_all_tensors(const TensorTable& t) {
  static const std::pair<const char*, std::size_t> kSizes[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
      {"I16", 2}, {"I8", 1}, {"U8", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}, {"BOOL", 1}};
  const long data_size = static_cast<long>(t.data_size);
  std::vector<std::pair<long, long>> ranges;
  for (const auto& [name, entry] : t.header.object) {
    if (name == "__metadata__") continue;
    if (!entry.is(Value::Kind::object)) throw LoadError("tensor '" + name + "' is not an object");
    const std::string& dtype = as_string(entry.at("dtype"), "dtype");
    std::size_t item = 0;
    for (const auto& [n, s] : kSizes)
      if (dtype == n) item = s;
    if (item == 0) throw LoadError("tensor '" + name + "' has unknown dtype");
    const Value& shape = entry.at("shape");
    if (!shape.is(Value::Kind::array) || shape.array.size() > 8)
      throw LoadError("tensor '" + name + "' has a bad shape");
    // Each dimension is at most the data size (< 4 GiB), so multiplying
    // stops once past it, before it could overflow; a zero dimension wins.
    std::size_t bytes = item;
    bool zero = false;
    for (const Value& d : shape.array) {
      const auto dim = static_cast<std::size_t>(as_int(d, "shape", 0, data_size));
      zero = zero || dim == 0;
      if (bytes <= t.data_size) bytes *= dim;
    }
    if (zero) bytes = 0;
    const Value& off = entry.at("data_offsets");
    if (!off.is(Value::Kind::array) || off.array.size() != 2)
      throw LoadError("tensor '" + name + "' has bad data_offsets");
    long begin = as_int(off.array[0], "data_offsets", 0, data_size);
    long end = as_int(off.array[1], "data_offsets", begin, data_size);
    if (static_cast<std::size_t>(end - begin) != bytes)
      throw LoadError("tensor '" + name + "' has a size that does not match its shape");
    ranges.emplace_back(begin, end);
  }
  std::sort(ranges.begin(), ranges.end());
  long at = 0;
  for (const auto& [begin, end] : ranges) {
    if (begin != at) throw LoadError("tensor byte ranges overlap or leave gaps");
    at = end;
  }
  if (at != data_size)
    throw LoadError("data section size does not match the header (truncated or padded file)");
}

// Format 2: every tensor's bytes against the CRC-32 saved with it (those
// this library does not use too), so a flipped byte is an error, never a
// model with other weights. Offsets were checked by validate_all_tensors.
void verify_checksums(const TensorTable& t, const Value& checksums) {
  if (!checksums.is(Value::Kind::object))
    throw LoadError("the file lacks the checksums of its tensors");
  for (const auto& [name, entry] : t.header.object) {
    if (name == "__metadata__") continue;
    const Value* sum = checksums.find(name);
    if (sum == nullptr) throw LoadError("tensor '" + name + "' has no checksum");
    const Value& off = entry.at("data_offsets");
    const auto begin = static_cast<std::size_t>(off.array[0].number);
    const auto end = static_cast<std::size_t>(off.array[1].number);
    if (crc32(t.data + begin, end - begin) !=
            static_cast<std::uint32_t>(as_int(*sum, "checksum", 0, 0xFFFFFFFFL)) &&
        kEnforceChecksums)
      throw LoadError("tensor '" + name + "' does not match its checksum (the file is corrupt)");
  }
}

// Format 2: the metadata strings against their CRC-32, as pyae/_io.py
// computes it (key order, each key and value ended by a NUL).
void verify_metadata_checksum(const Value& meta) {
  const std::string& saved = as_string(meta.at("metadata_checksum"), "metadata_checksum");
  if (saved.empty() || saved.size() > 10 ||
      saved.find_first_not_of("0123456789") != std::string::npos)
    throw LoadError("bad metadata_checksum");
  std::string bytes;
  for (const auto& [key, value] : meta.object) {  // std::map: key order
    if (key == "metadata_checksum") continue;
    bytes += key;
    bytes += '\0';
    bytes += as_string(value, "metadata value");
    bytes += '\0';
  }
  if (crc32(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()) !=
          std::stoull(saved) &&
      kEnforceChecksums)
    throw LoadError("the metadata does not match its checksum (the file is corrupt)");
}

// Metadata values are JSON texts themselves (pyae json.dumps them).
Value metadata_json(const Value& meta, const std::string& key) {
  const std::string& text = as_string(meta.at(key), key.c_str());
  return pyae::json::parse(text.data(), text.size());
}

// Format 2: the layer table's rows, checked by LayerTable itself.
pyae::LayerTable table_from_rows(const Value& rows) {
  if (!rows.is(Value::Kind::array) || rows.array.empty() || rows.array.size() > kMaxLayers)
    throw LoadError("bad layer table");
  std::vector<pyae::LayerSpec> specs;
  for (const Value& r : rows.array) {
    // Exactly the five keys pyae writes, as Python's loader demands too.
    if (!r.is(Value::Kind::object) || r.object.size() != 5) throw LoadError("bad layer table row");
    pyae::LayerSpec s;
    s.d_in = static_cast<int>(as_int(r.at("d_in"), "d_in", 1, kMaxWidth));
    s.d_out = static_cast<int>(as_int(r.at("d_out"), "d_out", 1, kMaxWidth));
    s.act = activation(as_string(r.at("activation"), "activation"));
    s.tied_to = static_cast<int>(as_int(r.at("tied_to"), "tied_to", -1, kMaxLayers));
    try {
      s.role = pyae::role_from_name(as_string(r.at("role"), "role").c_str());
    } catch (const std::invalid_argument& e) {
      throw LoadError(e.what());
    }
    specs.push_back(s);
  }
  try {
    return pyae::LayerTable(std::move(specs));
  } catch (const std::invalid_argument& e) {
    throw LoadError(e.what());
  }
}

// Format 1: the table built from the hyperparameters, by the same builders
// the Python models use.
pyae::LayerTable table_from_config(const Value& meta) {
  std::string kind = as_string(metadata_json(meta, "model"), "model");
  Value config = metadata_json(meta, "config");
  int D = static_cast<int>(as_int(metadata_json(meta, "n_features"), "n_features", 1, kMaxWidth));
  std::vector<int> hidden;
  const Value& h = config.at("hidden");
  if (!h.is(Value::Kind::array) || h.array.size() > kMaxLayers)
    throw LoadError("bad hidden widths");
  for (const Value& w : h.array)
    hidden.push_back(static_cast<int>(as_int(w, "hidden width", 1, kMaxWidth)));
  Activation act = activation(as_string(config.at("activation"), "activation"));
  Activation out_act = activation(as_string(config.at("output_activation"), "output_activation"));
  try {
    if (kind == "VAE") {
      int Z = static_cast<int>(as_int(config.at("latent_dim"), "latent_dim", 1, kMaxWidth));
      return pyae::LayerTable::vae(D, hidden, Z, act, out_act);
    }
    if (kind == "Autoencoder" || kind == "DenoisingAutoencoder") {
      const Value* t = config.find("tied_weights");
      bool tied = t != nullptr && t->is(Value::Kind::boolean) && t->boolean;
      return pyae::LayerTable::autoencoder(D, hidden, act, out_act, tied);
    }
  } catch (const std::invalid_argument& e) {
    throw LoadError(e.what());
  }
  throw LoadError("unknown model type '" + kind + "'");
}

}  // namespace

std::unique_ptr<pyae_model> pyae_model::from_bytes(const unsigned char* data, std::size_t size) {
  if (size > kMaxFileBytes) throw LoadError("file larger than the 4 GiB limit");
  if (size < 8) throw LoadError("file too short to be a model (truncated?)");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  if (header_len > kMaxHeaderBytes) throw LoadError("header larger than the 16 MiB limit");
  if (header_len > size - 8) throw LoadError("header runs past the end of the file (truncated?)");
  TensorTable table;
  table.header = pyae::json::parse(reinterpret_cast<const char*>(data) + 8, header_len);
  if (!table.header.is(Value::Kind::object)) throw LoadError("header is not a JSON object");
  table.data = data + 8 + header_len;
  table.data_size = size - 8 - header_len;
  validate_all_tensors(table);

  const Value& meta = table.header.at("__metadata__");
  if (as_string(meta.at("format"), "format") != "pyae") throw LoadError("not a pyae model file");
  const std::string& version = as_string(meta.at("format_version"), "format_version");
  if (version != "1" && version != "2") throw LoadError("unsupported model format version");
  // A format-2 file whose version was changed: reading it as format 1 would
  // skip its checksums (pyae/_io.py refuses the same).
  if (version == "1")
    for (const char* key : {"layers", "checksums", "metadata_checksum"})
      if (meta.find(key) != nullptr)
        throw LoadError("the file claims format 1 but has format-2 fields (the file is corrupt)");
  const std::string kind = as_string(metadata_json(meta, "model"), "model");
  if (kind != "Autoencoder" && kind != "DenoisingAutoencoder" && kind != "VAE")
    throw LoadError("unknown model type '" + kind + "'");
  const pyae::LayerTable layer_table = version == "1" ? table_from_config(meta)
                                                      : table_from_rows(metadata_json(meta, "layers"));
  if (version != "1") {
    verify_metadata_checksum(meta);
    verify_checksums(table, metadata_json(meta, "checksums"));
  }
  if (as_int(metadata_json(meta, "n_features"), "n_features", 1, kMaxWidth) != layer_table.features())
    throw LoadError("n_features does not match the layer table");

  auto model = std::make_unique<pyae_model>();
  model->decoder_start = layer_table.decoder_start();
  model->vae = layer_table.variational();
  if (model->vae) model->latent = layer_table[layer_table.latent_layer()].d_out / 2;
  for (int l = 0; l < layer_table.size(); ++l) {
    const pyae::LayerSpec& s = layer_table[l];
    Layer layer{s.d_in, s.d_out, s.act, {}, {}};
    if (!s.owns_weight()) {
      // Tied decoder layer: W = (encoder twin's weight)^T.
      const Layer& twin = model->layers[s.tied_to];
      layer.weight.resize(twin.weight.size());
      for (int r = 0; r < layer.d_out; ++r)
        for (int c = 0; c < layer.d_in; ++c)
          layer.weight[static_cast<std::size_t>(r) * layer.d_in + c] =
              twin.weight[static_cast<std::size_t>(c) * twin.d_in + r];
    } else {
      layer.weight = table.get("layers." + std::to_string(l) + ".weight", layer.d_out, layer.d_in);
    }
    layer.bias = table.get("layers." + std::to_string(l) + ".bias", layer.d_out, 0);
    model->layers.push_back(std::move(layer));
  }
  // The other tensors may only be the optimiser's state, of the model's size
  // and finite, and the anomaly scores' statistics ("outlier.*", float32 and
  // finite; their shapes are Python's to check): a file holds one model.
  std::size_t known = 0;
  for (int l = 0; l < layer_table.size(); ++l) known += layer_table[l].owns_weight() ? 2 : 1;
  for (const char* name : {"optimizer.state0", "optimizer.state1"})
    if (table.header.find(name) != nullptr) {
      table.finite_f32(name, static_cast<long>(layer_table.num_params()), 0);
      ++known;
    }
  for (const auto& [name, entry] : table.header.object)
    if (name.rfind("outlier.", 0) == 0) {
      table.check_finite_f32(name);
      ++known;
    }
  if (table.header.find("scaler.offset") != nullptr || table.header.find("scaler.factor") != nullptr) {
    model->scale_offset = table.get("scaler.offset", layer_table.features(), 0);
    model->scale_factor = table.get("scaler.factor", layer_table.features(), 0);
    for (float f : model->scale_factor)
      if (!(f > 0.0f)) throw LoadError("scaler.factor must be positive");
    known += 2;
  }
  if (table.header.object.size() - 1 != known)  // - 1: __metadata__
    throw LoadError("the file holds tensors that are not the model's");
  return model;
}

void pyae_model::run(int first, int last, const float* in, int batch, float* out) const {
  std::size_t widest = 0;
  for (int l = first; l < last; ++l) widest = std::max<std::size_t>(widest, layers[l].d_out);
  std::vector<float> buf[2] = {std::vector<float>(batch * widest), std::vector<float>(batch * widest)};
  const float* cur = in;
  for (int l = first; l < last; ++l) {
    const Layer& s = layers[l];
    float* dst = (l == last - 1) ? out : buf[(l - first) % 2].data();
    if (!bf16.empty() || !int8.empty()) {  // the packed weight, then bias and activation
      if (!int8.empty())
        pyae::int8_gemm_packed(batch, 0, s.d_out, cur, s.d_in, *int8[l], dst, s.d_out, int8_path);
      else
        pyae::bf16_gemm_packed(false, batch, 0, s.d_out, 1.0f, cur, s.d_in, *bf16[l], 0.0f, dst,
                               s.d_out, bf16_path);
      for (std::size_t i = 0; i < static_cast<std::size_t>(batch) * s.d_out; ++i)
        dst[i] = pyae::activate(dst[i] + s.bias[i % s.d_out], s.act);
      cur = dst;
      continue;
    }
    for (int b = 0; b < batch; ++b) {
      const float* x = cur + static_cast<std::size_t>(b) * s.d_in;
      float* y = dst + static_cast<std::size_t>(b) * s.d_out;
      for (int o = 0; o < s.d_out; ++o) {
        const float* w = s.weight.data() + static_cast<std::size_t>(o) * s.d_in;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int k = 0; k < s.d_in; ++k) acc += w[k] * x[k];
        y[o] = pyae::activate(acc + s.bias[o], s.act);
      }
    }
    cur = dst;
  }
}

namespace {

void set_error(char* err, std::size_t len, const std::string& msg) {
  if (err != nullptr && len > 0) std::snprintf(err, len, "%s", msg.c_str());
}

// (first, last) layer range of a part and its input/output widths.
bool part_range(const pyae_model* m, pyae_part part, int* first, int* last) {
  const int L = static_cast<int>(m->layers.size());
  switch (part) {
    case PYAE_PART_FULL: *first = 0; *last = L; return true;
    case PYAE_PART_ENCODER: *first = 0; *last = m->decoder_start; return true;
    case PYAE_PART_DECODER: *first = m->decoder_start; *last = L; return true;
  }
  return false;
}

}  // namespace

extern "C" {

pyae_model* pyae_model_load_bytes(const unsigned char* data, size_t size, char* err,
                                  size_t err_len) {
  try {
    if (data == nullptr && size != 0) throw LoadError("no data");
    return pyae_model::from_bytes(data, size).release();
  } catch (const std::exception& e) {
    set_error(err, err_len, std::string("pyae: cannot load model: ") + e.what());
  } catch (...) {
    set_error(err, err_len, "pyae: cannot load model: unknown error");
  }
  return nullptr;
}

pyae_model* pyae_model_load(const char* path, char* err, size_t err_len) {
  try {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw LoadError(std::string("cannot open ") + path);
    std::streamoff size = f.tellg();
    if (size < 0 || static_cast<std::size_t>(size) > kMaxFileBytes)
      throw LoadError("file size out of range");
    std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
    f.seekg(0);
    if (size > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), size))
      throw LoadError(std::string("cannot read ") + path);
    return pyae_model_load_bytes(bytes.data(), bytes.size(), err, err_len);
  } catch (const std::exception& e) {
    set_error(err, err_len, std::string("pyae: cannot load model: ") + e.what());
  }
  return nullptr;
}

int pyae_model_input_dim(const pyae_model* m, pyae_part part) {
  int first, last;
  if (m == nullptr || !part_range(m, part, &first, &last)) return -1;
  if (m->vae && part == PYAE_PART_DECODER) return m->latent;
  return m->layers[first].d_in;
}

int pyae_model_output_dim(const pyae_model* m, pyae_part part) {
  int first, last;
  if (m == nullptr || !part_range(m, part, &first, &last)) return -1;
  return m->layers[last - 1].d_out;
}

int pyae_model_forward(const pyae_model* m, pyae_part part, const float* input, int batch,
                       float* output, char* err, size_t err_len) {
  try {
    int first, last;
    if (m == nullptr) throw std::invalid_argument("model is NULL");
    if (!part_range(m, part, &first, &last)) throw std::invalid_argument("unknown part");
    if (batch < 0) throw std::invalid_argument("batch must be >= 0");
    if (batch > 0 && (input == nullptr || output == nullptr))
      throw std::invalid_argument("input and output must not be NULL");
    if (batch == 0) return 0;
    const bool scaled = !m->scale_offset.empty();
    std::vector<float> scaled_input;
    if (scaled && part != PYAE_PART_DECODER) {  // feature-space input
      const std::size_t D = m->scale_offset.size();
      scaled_input.resize(static_cast<std::size_t>(batch) * D);
      for (std::size_t i = 0; i < scaled_input.size(); ++i)
        scaled_input[i] = (input[i] - m->scale_offset[i % D]) * m->scale_factor[i % D];
      input = scaled_input.data();
    }
    if (m->vae && part == PYAE_PART_FULL) {
      // Encode, keep mu (the first half of each head row), decode.
      const int Z = m->latent;
      std::vector<float> ml(static_cast<std::size_t>(batch) * 2 * Z), mu(static_cast<std::size_t>(batch) * Z);
      m->run(0, m->decoder_start, input, batch, ml.data());
      for (int b = 0; b < batch; ++b)
        std::copy_n(ml.data() + static_cast<std::size_t>(b) * 2 * Z, Z, mu.data() + static_cast<std::size_t>(b) * Z);
      m->run(m->decoder_start, static_cast<int>(m->layers.size()), mu.data(), batch, output);
    } else {
      m->run(first, last, input, batch, output);
    }
    if (scaled && part != PYAE_PART_ENCODER) {  // feature-space output, back to its units
      const std::size_t D = m->scale_offset.size();
      for (std::size_t i = 0; i < static_cast<std::size_t>(batch) * D; ++i)
        output[i] = output[i] / m->scale_factor[i % D] + m->scale_offset[i % D];
    }
    return 0;
  } catch (const std::exception& e) {
    set_error(err, err_len, std::string("pyae: forward failed: ") + e.what());
  } catch (...) {
    set_error(err, err_len, "pyae: forward failed: unknown error");
  }
  return -1;
}

int pyae_model_set_precision(pyae_model* m, const char* precision, char* err,
                             size_t err_len) {
  try {
    if (m == nullptr || precision == nullptr) throw std::invalid_argument("model or precision is NULL");
    const std::string p = precision;
    std::vector<std::unique_ptr<pyae::Bf16PackedB>> bf16;
    std::vector<std::unique_ptr<pyae::Int8PackedB>> int8;
    pyae::Bf16Path bf16_path = pyae::Bf16Path::none;
    pyae::Int8Path int8_path = pyae::Int8Path::none;
    if (p == "bf16") {
      bf16_path = pyae::bf16_best_path();
      if (bf16_path == pyae::Bf16Path::none)
        throw std::runtime_error("bf16 needs AVX512-BF16 or AMX-BF16; this CPU has neither");
      for (const Layer& s : m->layers)  // op(B) = W^T: the (d_out, d_in) weight transposed
        bf16.push_back(std::make_unique<pyae::Bf16PackedB>(true, s.d_in, s.d_out,
                                                           s.weight.data(), s.d_in));
    } else if (p == "int8") {
      int8_path = pyae::int8_best_path();
      if (int8_path == pyae::Int8Path::none)
        throw std::runtime_error("int8 needs AVX512-VNNI or AMX-INT8; this CPU has neither");
      for (const Layer& s : m->layers)
        int8.push_back(std::make_unique<pyae::Int8PackedB>(true, s.d_in, s.d_out,
                                                           s.weight.data(), s.d_in));
    } else if (p != "fp32") {
      throw std::invalid_argument("unknown precision '" + p + "' (fp32, bf16 or int8)");
    }
    m->bf16 = std::move(bf16);
    m->int8 = std::move(int8);
    m->bf16_path = bf16_path;
    m->int8_path = int8_path;
    return 0;
  } catch (const std::exception& e) {
    set_error(err, err_len, std::string("pyae: cannot set precision: ") + e.what());
  } catch (...) {
    set_error(err, err_len, "pyae: cannot set precision: unknown error");
  }
  return -1;
}

void pyae_model_free(pyae_model* m) { delete m; }

}  // extern "C"
