// Reading HDF5 files safely: identifiers that close themselves, HDF5's error stack turned into
// one-line reasons, and string-list attributes and float datasets read as Keras wrote them. Every
// failure is a WeightsError naming the file. Private to the library (the Keras .h5 reader); the
// test support's HDF5 writer reuses it.
#pragma once

#include <hdf5.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace cifar_exp {

// Owns one HDF5 identifier and closes it with the matching H5xclose.
class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  H5Handle(H5Handle&& other) noexcept : id_(std::exchange(other.id_, -1)), close_(other.close_) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle& operator=(H5Handle&& other) noexcept {
    if (this != &other) {
      if (id_ >= 0) close_(id_);
      id_ = std::exchange(other.id_, -1);
      close_ = other.close_;
    }
    return *this;
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  Closer close_;
};

// Turns off HDF5's printing of its error stack for this scope; failures become WeightsErrors.
class QuietHdf5 {
 public:
  QuietHdf5();
  ~QuietHdf5();
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The innermost message of HDF5's error stack, as " (HDF5: ...)", or "" when there is none.
// Call right after the failing HDF5 call: the next call clears the stack.
std::string hdf5_reason();

// Whether `path` is an HDF5 file that this HDF5 library can open.
bool is_hdf5_file(const std::string& path);

// Reads attributes and datasets of one file; every failure is a WeightsError "<path>: <what>".
class H5Reader {
 public:
  explicit H5Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const;

  // A string-array attribute, as Keras' load_attributes_from_hdf5_group reads it: `name`, or
  // when too big for one attribute, chunks `name0`, `name1`, ... ; nullopt when absent.
  std::optional<std::vector<std::string>> string_list(hid_t object, const std::string& object_name,
                                                      const std::string& name) const;

  // A float dataset (any float size; HDF5 converts to float32) as a tensor of its shape.
  torch::Tensor float_dataset(hid_t group, const std::string& relative,
                              const std::string& object_name) const;

 private:
  // One string-array attribute; an empty or null one (a layer without weights) is {}.
  std::vector<std::string> read_strings(hid_t object, const std::string& object_name,
                                        const std::string& name) const;
  std::vector<std::string> read_variable_strings(hid_t attr, hid_t type, hid_t space,
                                                 hssize_t count, const std::string& what) const;
  std::vector<std::string> read_fixed_strings(hid_t attr, hid_t type, hssize_t count,
                                              const std::string& what) const;

  std::string path_;
};

}  // namespace cifar_exp
