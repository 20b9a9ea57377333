// Every C++ enum as a real Python enum (pyae._core.Activation etc.), made
// from the X-macro lists of math/enums.h: Python's names and lists derive
// from these, and a plain int is never accepted where an enum is expected.
#include "math/enums.h"
#include "checks.h"

namespace pyae::bind {

void register_enums(py::module_& m) {
#define PYAE_BIND_VALUE(name, code) e.value(#name, decltype(e)::type::name);
#define PYAE_BIND(EnumType, LIST)             \
  {                                           \
    py::enum_<EnumType> e(m, #EnumType);      \
    LIST(PYAE_BIND_VALUE)                     \
  }
  PYAE_BIND(Activation, PYAE_ACTIVATIONS)
  PYAE_BIND(Loss, PYAE_LOSSES)
  PYAE_BIND(OptimizerKind, PYAE_OPTIMIZERS)
  PYAE_BIND(NoiseKind, PYAE_NOISE_KINDS)
  PYAE_BIND(LayerRole, PYAE_LAYER_ROLES)
  PYAE_BIND(Precision, PYAE_PRECISIONS)
#undef PYAE_BIND
#undef PYAE_BIND_VALUE
  m.def("needs_preactivation", &needs_preactivation, py::arg("activation"));
}

}  // namespace pyae::bind
