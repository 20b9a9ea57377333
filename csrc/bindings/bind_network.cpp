// Bindings of the layer table and of pyae::Network, the object behind every
// Python model (Autoencoder, DenoisingAutoencoder and VAE alike).
#include "models/network.h"
#include "checks.h"
#include "runtime/parallel.h"

#include <pybind11/stl.h>

#include <cmath>
#include <limits>

namespace pyae::bind {

namespace {

// One pass over (n) outputs: NaN and +-inf fail |v| <= max. An int OR
// reduction under omp simd, so it is vectorised (a bool &= loop was not:
// +6% on a batch-256 reconstruct).
bool all_finite(const float* v, py::ssize_t n) {  // (n)
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (py::ssize_t i = 0; i < n; ++i)
    bad |= !(std::fabs(v[i]) <= std::numeric_limits<float>::max());
  return bad == 0;
}

bool no_nan(const float* v, py::ssize_t n) {  // (n)
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (py::ssize_t i = 0; i < n; ++i) bad |= !(v[i] == v[i]);
  return bad == 0;
}

void check_batch(const Network& n, const FloatArray& data, const IndexArray& rows) {
  if (data.ndim() != 2 || data.shape(1) != n.table().features())
    throw py::value_error("data must be (n_samples, n_features)");
  if (rows.ndim() != 1 || rows.size() < 1) throw py::value_error("rows must be 1-D, non-empty");
}

// A training step (update) or a gradient computation: (loss, reconstruction, kl).
py::tuple run_step(Network& n, const FloatArray& data, const IndexArray& rows,
                   const py::object& eps_obj, bool update, const py::object& keys_obj) {
  check_batch(n, data, rows);
  const int B = static_cast<int>(rows.size());
  FloatArray eps;
  const float* e = nullptr;
  if (!eps_obj.is_none()) {
    if (!n.table().variational()) throw py::value_error("eps is for networks with a latent head");
    const int Z = n.table()[n.table().latent_layer()].d_out / 2;
    e = optional_array(eps_obj, &eps, {B, Z}, "eps", false);
  }
  IndexArray keys;
  const std::int64_t* k = nullptr;
  if (!keys_obj.is_none()) {
    keys = keys_obj.cast<IndexArray>();
    if (keys.ndim() != 1 || keys.size() != B) throw py::value_error("keys must be (len(rows),)");
    for (py::ssize_t i = 0; i < B; ++i)
      if (keys.data()[i] < 0) throw py::value_error("keys must be >= 0");
    k = keys.data();
  }
  StepLosses r;
  {
    py::gil_scoped_release nogil;
    r = update ? n.train_step(data.data(), data.shape(0), rows.data(), B, e)
               : n.compute_gradients(data.data(), data.shape(0), rows.data(), B, e, k);
  }
  return py::make_tuple(r.loss, r.reconstruction, r.kl);
}

template <class Fn>
LayerTable checked(Fn&& build) {
  try {
    return build();
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
}

}  // namespace

void register_network(py::module_& m) {
  py::class_<LayerSpec>(m, "LayerSpec")
      .def(py::init([](int d_in, int d_out, Activation act, LayerRole role, int tied_to) {
             LayerSpec s;
             s.d_in = d_in;
             s.d_out = d_out;
             s.act = act;
             s.role = role;
             s.tied_to = tied_to;
             return s;
           }),
           py::arg("d_in"), py::arg("d_out"), py::arg("activation"), py::arg("role"),
           py::arg("tied_to") = -1)
      .def_readonly("d_in", &LayerSpec::d_in)
      .def_readonly("d_out", &LayerSpec::d_out)
      .def_readonly("activation", &LayerSpec::act)
      .def_readonly("role", &LayerSpec::role)
      .def_readonly("tied_to", &LayerSpec::tied_to)
      .def_readonly("weight_offset", &LayerSpec::weight_offset)
      .def_readonly("bias_offset", &LayerSpec::bias_offset)
      .def_property_readonly("owns_weight", &LayerSpec::owns_weight)
      .def("__repr__", [](const LayerSpec& s) {
        // A spec may hold a code outside the enum (LayerTable refuses it).
        const char* act = activation_name(s.act);
        return "LayerSpec(" + std::to_string(s.d_in) + " -> " + std::to_string(s.d_out) + ", " +
               (act != nullptr ? std::string(act)
                               : "activation code " + std::to_string(static_cast<int>(s.act))) +
               ", tied_to=" + std::to_string(s.tied_to) + ")";
      });

  py::class_<LayerTable>(m, "LayerTable")
      .def(py::init([](std::vector<LayerSpec> rows) {
             return checked([&] { return LayerTable(std::move(rows)); });
           }),
           py::arg("rows"))
      .def_static(
          "autoencoder",
          [](int D, std::vector<int> hidden, Activation act, Activation out_act, bool tied) {
            return checked([&] { return LayerTable::autoencoder(D, hidden, act, out_act, tied); });
          },
          py::arg("features"), py::arg("hidden"), py::arg("activation"),
          py::arg("output_activation"), py::arg("tied"))
      .def_static(
          "vae",
          [](int D, std::vector<int> hidden, int Z, Activation act, Activation out_act) {
            return checked([&] { return LayerTable::vae(D, hidden, Z, act, out_act); });
          },
          py::arg("features"), py::arg("hidden"), py::arg("latent_dim"), py::arg("activation"),
          py::arg("output_activation"))
      .def_property_readonly("layers", &LayerTable::layers)
      .def("__len__", &LayerTable::size)
      .def("__getitem__",
           [](const LayerTable& t, int l) {
             if (l < 0) l += t.size();
             if (l < 0 || l >= t.size()) throw py::index_error("layer index out of range");
             return t[l];
           })
      .def_property_readonly("num_params", &LayerTable::num_params)
      .def_property_readonly("features", &LayerTable::features)
      .def_property_readonly("latent_layer", &LayerTable::latent_layer)
      .def_property_readonly("decoder_start", &LayerTable::decoder_start)
      .def_property_readonly("variational", &LayerTable::variational)
      .def(
          "input_width",
          [](const LayerTable& t, int l) {
            if (l < 0 || l > t.size()) throw py::index_error("layer index out of range");
            return t.input_width(l);
          },
          py::arg("layer"));

  py::class_<Network>(m, "Network")
      .def(py::init([](const LayerTable& table, Loss loss, OptimizerKind optimizer, double lr,
                       double beta1, double beta2, double eps, double momentum, double beta) {
             OptimizerConfig opt{optimizer, lr, beta1, beta2, eps, momentum};
             try {
               return new Network(table, loss, opt, beta);
             } catch (const std::invalid_argument& e) {
               throw py::value_error(e.what());
             }
           }),
           py::arg("table"), py::arg("loss"), py::arg("optimizer"), py::arg("lr"),
           py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("momentum"),
           py::arg("beta") = 1.0)
      .def_property_readonly("table", &Network::table)
      .def_property_readonly(
          "params",
          [](py::object self) {
            const Network& n = self.cast<const Network&>();
            FloatArray a = view(const_cast<float*>(n.const_params()), n.num_params(), self);
            a.attr("setflags")(py::arg("write") = false);
            return a;
          },
          "A read-only view of the flat parameters (mutable_params() to write).")
      .def(
          "mutable_params",
          [](py::object self) {
            Network& n = self.cast<Network&>();
            return view(n.params(), n.num_params(), self);
          },
          "A writable view of the flat parameters; the call marks them changed, so\n"
          "inference and training re-pack their weights at their next call. Write\n"
          "before the next inference call or training step and call again for a\n"
          "later write: neither sees writes made through an older view after it\n"
          "packed (a bf16 training step re-packs the rows it updates and keeps\n"
          "those packs until the parameters are marked changed).")
      .def_property_readonly("grads",
                             [](py::object self) {
                               Network& n = self.cast<Network&>();
                               return view(const_cast<float*>(n.grads()), n.num_params(), self);
                             })
      .def("optimizer_state",
           [](py::object self, int which) -> py::object {
             Network& n = self.cast<Network&>();
             float* p = n.optimizer().state(which);
             if (p == nullptr) return py::none();
             return view(p, n.num_params(), self);
           })
      .def_property(
          "step_count", [](Network& n) { return n.optimizer().step_count(); },
          [](Network& n, long long s) { n.optimizer().set_step_count(s); })
      .def("set_learning_rate",
           [](Network& n, double lr) { n.optimizer().set_learning_rate(lr); })
      .def(
          "set_noise",
          [](Network& n, NoiseKind kind, float a, float b, float lo, float hi,
             std::uint64_t seed) { n.set_noise(NoiseConfig{kind, a, b, lo, hi}, seed); },
          py::arg("kind"), py::arg("a"), py::arg("b"), py::arg("lo"), py::arg("hi"),
          py::arg("seed"))
      .def("set_latent_seed", &Network::set_latent_seed, py::arg("seed"))
      .def(
          "set_precision",
          [](Network& n, Precision p) {
            try {
              n.set_precision(p);
            } catch (const std::invalid_argument& e) {
              throw py::value_error(e.what());
            }
          },
          py::arg("precision"))
      .def_property_readonly("precision", &Network::precision)
      .def_property(
          "step_split",
          [](const Network& n) {
            switch (n.step_split()) {
              case StepSplit::rows: return "rows";
              case StepSplit::columns: return "columns";
              default: return "auto";
            }
          },
          [](Network& n, const std::string& split) {
            if (split == "auto") n.set_step_split(StepSplit::automatic);
            else if (split == "rows") n.set_step_split(StepSplit::rows);
            else if (split == "columns") n.set_step_split(StepSplit::columns);
            else throw py::value_error("step_split is 'auto', 'rows' or 'columns', not '" + split + "'");
          },
          "How train_step shares a batch between threads (StepSplit in network.h).")
      .def(
          "splits_columns",
          [](const Network& n, int batch) { return n.splits_columns(batch, kernel_threads()); },
          py::arg("batch"), "Whether a step of `batch` rows now is split by columns.")
      .def_property_readonly("gemm_path",
                             [](const Network& n) {
                               return n.precision() == Precision::int8
                                          ? int8_path_name(n.int8_path())
                                          : bf16_path_name(n.gemm_path());
                             })
      .def(
          "set_beta",
          [](Network& n, double beta) {
            try {
              n.set_beta(beta);
            } catch (const std::invalid_argument& e) {
              throw py::value_error(e.what());
            }
          },
          py::arg("beta"))
      .def("reserve", &Network::reserve, py::arg("max_batch"),
           py::call_guard<py::gil_scoped_release>())
      .def(
          "train_step",
          [](Network& n, const FloatArray& data, const IndexArray& rows, py::object eps) {
            return run_step(n, data, rows, eps, true, py::none());
          },
          py::arg("data").noconvert(), py::arg("rows").noconvert(), py::arg("eps") = py::none())
      .def(
          "compute_gradients",
          [](Network& n, const FloatArray& data, const IndexArray& rows, py::object eps,
             py::object keys) { return run_step(n, data, rows, eps, false, keys); },
          py::arg("data").noconvert(), py::arg("rows").noconvert(), py::arg("eps") = py::none(),
          py::arg("keys") = py::none(),
          "Loss and gradient (left in grads) of the rows; keys: their positions in a\n"
          "batch split across processes (noise and epsilon drawn as at those positions).")
      .def("apply_gradients", &Network::apply_gradients,
           py::call_guard<py::gil_scoped_release>(),
           "The optimiser step from grads (e.g. summed across processes); zeroes them.")
      .def(
          "forward",
          [](const Network& n, const FloatArray& x, FloatArray out, int first, int last) {
            const LayerTable& t = n.table();
            if (first < 0 || last > t.size() || first >= last)
              throw py::value_error("bad layer range");
            if (x.ndim() != 2) throw py::value_error("x must be 2-D");
            int B = dim(x, 0);
            check_shape(x, {B, t.input_width(first)}, "x");
            check_shape(out, {B, t[last - 1].d_out}, "out");
            check_writeable(out, "out");
            py::gil_scoped_release nogil;
            n.forward(x.data(), out.mutable_data(), B, first, last);
            return all_finite(out.data(), out.size());
          },
          py::arg("x").noconvert(), py::arg("out").noconvert(), py::arg("first"), py::arg("last"),
          "Runs layers [first, last); False when the output is not all finite (an\n"
          "overflow inside the network: finite inputs too large for float32).")
      .def(
          "row_losses",
          [](const Network& n, const FloatArray& x, const FloatArray& target, FloatArray rows,
             int first) {
            const LayerTable& t = n.table();
            if (first < 0 || first >= t.size()) throw py::value_error("bad first layer");
            if (x.ndim() != 2) throw py::value_error("x must be 2-D");
            int B = dim(x, 0);
            check_shape(x, {B, t.input_width(first)}, "x");
            check_shape(target, {B, t.features()}, "target");
            check_shape(rows, {B}, "rows");
            check_writeable(rows, "rows");
            py::gil_scoped_release nogil;
            n.row_losses(x.data(), target.data(), rows.mutable_data(), B, first);
            return no_nan(rows.data(), rows.size());
          },
          py::arg("x").noconvert(), py::arg("target").noconvert(), py::arg("rows").noconvert(),
          py::arg("first") = 0,
          "Per-row losses; False when one is NaN (an overflow inside the network).\n"
          "+inf is a loss too large for float32, not an error.");
}

}  // namespace pyae::bind
