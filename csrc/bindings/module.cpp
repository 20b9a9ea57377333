// pyae._core: the private compiled module. Registration only, no math.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace pyae::bind {
void register_ops(py::module_& m);
void register_network(py::module_& m);
void register_noise(py::module_& m);
void register_latent(py::module_& m);
void register_enums(py::module_& m);
void register_infer(py::module_& m);
}  // namespace pyae::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyae compiled kernels (private; use pyae and pyae.ops)";
  pyae::bind::register_enums(m);
  pyae::bind::register_ops(m);
  pyae::bind::register_network(m);
  pyae::bind::register_noise(m);
  pyae::bind::register_latent(m);
  pyae::bind::register_infer(m);
}
