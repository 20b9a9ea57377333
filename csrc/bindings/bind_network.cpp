// Binding of pyae::Network, the object behind every Python model.
#include "../network.h"
#include "checks.h"

#include <pybind11/stl.h>

namespace pyae::bind {

namespace {

void check_batch(const Network& n, const FloatArray& data, const IndexArray& rows) {
  if (data.ndim() != 2 || data.shape(1) != n.widths().front())
    throw py::value_error("data must be (n_samples, n_features)");
  if (rows.ndim() != 1 || rows.size() < 1) throw py::value_error("rows must be 1-D, non-empty");
}

}  // namespace

void register_network(py::module_& m) {
  py::class_<Network>(m, "Network")
      .def(py::init([](std::vector<int> widths, std::vector<int> acts, bool tied, int loss,
                       int optimizer, double lr, double beta1, double beta2, double eps,
                       double momentum) {
             std::vector<Activation> a;
             for (int x : acts) a.push_back(static_cast<Activation>(x));
             OptimizerConfig opt{static_cast<OptimizerKind>(optimizer), lr, beta1, beta2, eps,
                                 momentum};
             return new Network(std::move(widths), std::move(a), tied, static_cast<Loss>(loss),
                                opt);
           }),
           py::arg("widths"), py::arg("activations"), py::arg("tied"), py::arg("loss"),
           py::arg("optimizer"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
           py::arg("eps"), py::arg("momentum"))
      .def_property_readonly("params",
                             [](py::object self) {
                               Network& n = self.cast<Network&>();
                               return view(n.params(), n.num_params(), self);
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
      .def_property_readonly("code_layer", &Network::code_layer)
      .def_property_readonly("num_layers",
                             [](const Network& n) { return static_cast<int>(n.layers().size()); })
      .def("layer_specs",
           [](const Network& n) {
             py::list out;
             for (const LayerSpec& s : n.layers()) {
               py::dict d;
               d["d_in"] = s.d_in;
               d["d_out"] = s.d_out;
               d["weight_offset"] = s.weight_offset;
               d["bias_offset"] = s.bias_offset;
               d["weight_transposed"] = s.weight_transposed;
               d["owns_weight"] = s.owns_weight;
               out.append(d);
             }
             return out;
           })
      .def(
          "set_noise",
          [](Network& n, int kind, float a, float b, float lo, float hi, std::uint64_t seed) {
            n.set_noise(NoiseConfig{static_cast<NoiseKind>(kind), a, b, lo, hi}, seed);
          },
          py::arg("kind"), py::arg("a"), py::arg("b"), py::arg("lo"), py::arg("hi"),
          py::arg("seed"))
      .def("reserve", &Network::reserve, py::arg("max_batch"),
           py::call_guard<py::gil_scoped_release>())
      .def(
          "train_step",
          [](Network& n, const FloatArray& data, const IndexArray& rows) {
            check_batch(n, data, rows);
            py::gil_scoped_release nogil;
            return n.train_step(data.data(), data.shape(0), rows.data(),
                                static_cast<int>(rows.size()));
          },
          py::arg("data").noconvert(), py::arg("rows").noconvert())
      .def(
          "compute_gradients",
          [](Network& n, const FloatArray& data, const IndexArray& rows) {
            check_batch(n, data, rows);
            py::gil_scoped_release nogil;
            return n.compute_gradients(data.data(), data.shape(0), rows.data(),
                                       static_cast<int>(rows.size()));
          },
          py::arg("data").noconvert(), py::arg("rows").noconvert())
      .def_property_readonly("grads",
                             [](py::object self) {
                               Network& n = self.cast<Network&>();
                               return view(const_cast<float*>(n.grads()), n.num_params(), self);
                             })
      .def(
          "forward",
          [](const Network& n, const FloatArray& x, FloatArray out, int first, int last) {
            const auto& w = n.widths();
            if (first < 0 || last >= static_cast<int>(w.size()) || first >= last)
              throw py::value_error("bad layer range");
            if (x.ndim() != 2) throw py::value_error("x must be 2-D");
            int B = static_cast<int>(x.shape(0));
            check_shape(x, {B, w[first]}, "x");
            check_shape(out, {B, w[last]}, "out");
            check_writeable(out, "out");
            py::gil_scoped_release nogil;
            n.forward(x.data(), out.mutable_data(), B, first, last);
          },
          py::arg("x").noconvert(), py::arg("out").noconvert(), py::arg("first"), py::arg("last"))
      .def(
          "score_samples",
          [](const Network& n, const FloatArray& x, const FloatArray& target, FloatArray scores) {
            if (x.ndim() != 2) throw py::value_error("x must be 2-D");
            int B = static_cast<int>(x.shape(0));
            check_shape(x, {B, n.widths().front()}, "x");
            check_shape(target, {B, n.widths().front()}, "target");
            check_shape(scores, {B}, "scores");
            check_writeable(scores, "scores");
            py::gil_scoped_release nogil;
            n.score_samples(x.data(), target.data(), scores.mutable_data(), B);
          },
          py::arg("x").noconvert(), py::arg("target").noconvert(), py::arg("scores").noconvert());
}

}  // namespace pyae::bind
