// launch(name, grid, block, args) and kernel_names() from Python, up to the
// launch itself: shared by pyae._cuda (bind_cuda.cpp) and the CPU emulator
// of the tests (tests/cuda_emulator/emulator.cpp, loaded with
// ctypes.PyDLL), so the emulated tests go through the same conversion,
// checks and packing as the extension. Python C API only (no pybind11,
// no NumPy headers): a NumPy scalar is read through the buffer protocol.
//
// An argument is None (a null pointer), an int (a device address), or a
// NumPy scalar whose kind and size are exactly the parameter's (see
// kernel_table.h). Errors: ValueError for an unknown kernel or launch
// shape, TypeError for arguments that do not match the kernel's signature.
#pragma once

#include <Python.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "kernel_table.h"

namespace pyae::kernel_table {

// struct-module format of a buffer -> NumPy kind; 0 unless it is one code
// of an integer, floating-point or bool type in the machine's byte order.
inline char kind_of_format(const char* format) {
  if (format == nullptr) return 'u';  // plain unsigned bytes
  const char* code = format;
  if (*code == '@' || *code == '=') {
    ++code;
  } else if (*code == '<' || *code == '>' || *code == '!') {
    const unsigned probe = 1;
    const bool little = *reinterpret_cast<const unsigned char*>(&probe) == 1;
    if ((*code == '<') != little) return 0;
    ++code;
  }
  if (code[0] == '\0' || code[1] != '\0') return 0;
  switch (code[0]) {
    case 'e': case 'f': case 'd': return 'f';
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n': return 'i';
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N': return 'u';
    case '?': return 'b';
    default: return 0;
  }
}

// One Python value -> Arg; false with `error` set (and no Python error).
inline bool python_arg(PyObject* o, Arg& out, std::string& error) {
  out = Arg{'P', static_cast<unsigned char>(sizeof(void*)), {}};
  if (o == Py_None) return true;
  if (PyObject_CheckBuffer(o)) {  // a NumPy scalar (or a 0-d array)
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_RECORDS_RO) != 0) {
      PyErr_Clear();
      error = std::string("a ") + Py_TYPE(o)->tp_name + " whose buffer cannot be read";
      return false;
    }
    const char kind = kind_of_format(view.format);
    const bool scalar = view.len == view.itemsize && view.itemsize >= 1 && view.itemsize <= 8;
    if (kind != 0 && scalar) {
      out.kind = kind;
      out.size = static_cast<unsigned char>(view.itemsize);
      std::memcpy(out.bytes, view.buf, static_cast<std::size_t>(view.itemsize));
    } else {
      error = std::string("a ") + Py_TYPE(o)->tp_name + " (format '" +
              (view.format ? view.format : "B") + "', " + std::to_string(view.len) +
              " bytes), not one scalar";
    }
    PyBuffer_Release(&view);
    return kind != 0 && scalar;
  }
  if (PyLong_Check(o) && !PyBool_Check(o)) {
    unsigned long long address = PyLong_AsUnsignedLongLong(o);
    if (PyErr_Occurred()) {
      PyErr_Clear();
      error = "an int that is not an address (negative, or over 64 bits)";
      return false;
    }
    const auto p = static_cast<std::uintptr_t>(address);
    std::memcpy(out.bytes, &p, sizeof p);
    return true;
  }
  error = std::string("a Python ") + Py_TYPE(o)->tp_name +
          " (pass int or None for a pointer, a NumPy scalar of the parameter's type "
          "otherwise)";
  return false;
}

// The kernels' names, in the list's order (a new reference; null with a
// Python error set on failure).
inline PyObject* python_names(const Table& table) {
  PyObject* names = PyTuple_New(static_cast<Py_ssize_t>(table.size));
  if (names == nullptr) return nullptr;
  for (std::size_t i = 0; i < table.size; ++i) {
    PyObject* s = PyUnicode_FromString(table.rows[i].name);
    if (s == nullptr) {
      Py_DECREF(names);
      return nullptr;
    }
    PyTuple_SET_ITEM(names, static_cast<Py_ssize_t>(i), s);
  }
  return names;
}

// Finds the kernel, checks the launch shape and the arguments (a sequence)
// and packs them into out. Returns the kernel, or null with a Python
// exception set; nothing may be launched then.
inline const KernelInfo* python_prepare_launch(const Table& table, const char* name,
                                               long long grid, long long block, PyObject* args,
                                               Packed& out) {
  const KernelInfo* k = table.find(name);
  if (k == nullptr) {
    std::string known;
    for (const KernelInfo& row : table) {
      if (!known.empty()) known += ", ";
      known += row.name;
    }
    PyErr_SetString(PyExc_ValueError,
                    ("unknown kernel '" + std::string(name) + "' (the kernels: " + known + ")")
                        .c_str());
    return nullptr;
  }
  std::string error = check_geometry(*k, grid, block);
  if (!error.empty()) {
    PyErr_SetString(PyExc_ValueError, error.c_str());
    return nullptr;
  }
  PyObject* seq = PySequence_Fast(args, "the kernel's arguments must be a sequence");
  if (seq == nullptr) return nullptr;
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  Arg converted[kMaxArgs];
  if (n != k->arity) {
    error = check_and_pack(*k, nullptr, static_cast<std::size_t>(n), out);  // the count message
  } else {
    PyObject** items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n && error.empty(); ++i) {
      std::string why;
      if (!python_arg(items[i], converted[i], why)) {
        const ArgSpec& p = k->params[i];
        error = std::string("pyae_") + k->name + " argument " + std::to_string(i + 1) + " of " +
                std::to_string(k->arity) + ": expected " + type_name(p.kind, p.size) + ", got " +
                why;
      }
    }
    if (error.empty()) error = check_and_pack(*k, converted, static_cast<std::size_t>(n), out);
  }
  Py_DECREF(seq);
  if (!error.empty()) {
    PyErr_SetString(PyExc_TypeError, error.c_str());
    return nullptr;
  }
  return k;
}

}  // namespace pyae::kernel_table
