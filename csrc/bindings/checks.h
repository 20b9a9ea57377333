// Argument checks shared by the bindings: arrays arrive as float32,
// C-contiguous (pybind11 noconvert), and shapes are checked here so a bad
// call is a ValueError, never a wild pointer.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <initializer_list>
#include <string>

namespace pyae::bind {

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style>;
using IndexArray = py::array_t<std::int64_t, py::array::c_style>;

template <class Array>
void check_shape(const Array& a, std::initializer_list<py::ssize_t> shape, const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  int i = 0;
  for (py::ssize_t s : shape) ok = ok && a.shape(i++) == s;
  if (!ok) {
    std::string want = "(";
    for (py::ssize_t s : shape) want += std::to_string(s) + ",";
    want += ")";
    throw py::value_error(std::string(name) + " has the wrong shape; expected " + want);
  }
}

// A 1-D NumPy view of n floats owned by a C++ object; `owner` keeps it alive.
inline FloatArray view(float* ptr, std::size_t n, py::handle owner) {
  return FloatArray({static_cast<py::ssize_t>(n)}, {static_cast<py::ssize_t>(sizeof(float))}, ptr,
                    owner);
}

// A dimension of an array as the kernels' int, refused (not truncated) when
// it does not fit.
inline int dim(const py::array& a, int axis) {
  const py::ssize_t n = a.shape(axis);
  if (n > 0x7fffffff)
    throw py::value_error("an array dimension of " + std::to_string(n) +
                          " is beyond pyae's kernels (2**31 - 1 at most)");
  return static_cast<int>(n);
}

inline void check_writeable(const FloatArray& a, const char* name) {
  if (!a.writeable()) throw py::value_error(std::string(name) + " must be writeable");
}

// The data of an optional array argument (None gives null), shape-checked.
inline float* optional_array(const py::object& obj, FloatArray* holder,
                             std::initializer_list<py::ssize_t> shape, const char* name,
                             bool writeable) {
  if (obj.is_none()) return nullptr;
  *holder = obj.cast<FloatArray>();
  check_shape(*holder, shape, name);
  if (writeable) check_writeable(*holder, name);
  return writeable ? holder->mutable_data() : const_cast<float*>(holder->data());
}

}  // namespace pyae::bind
