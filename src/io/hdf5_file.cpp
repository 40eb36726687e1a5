// Reading HDF5 files safely (see hdf5_file.h).
#include "io/hdf5_file.h"

#include <algorithm>

#include "cifar_exp/io/errors.h"

namespace cifar_exp {
namespace {

std::string h5_class_name(H5T_class_t type_class) {
  switch (type_class) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "float";
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    default:
      return "class " + std::to_string(int(type_class));
  }
}

void reclaim_vlen(hid_t type, hid_t space, void* buffer) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(type, space, H5P_DEFAULT, buffer);
#else
  H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
#endif
}

}  // namespace

QuietHdf5::QuietHdf5() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietHdf5::~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

std::string hdf5_reason() {
  std::string innermost;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
        if (n == 0 && err->desc) *static_cast<std::string*>(data) = err->desc;
        return 0;
      },
      &innermost);
  return innermost.empty() ? "" : " (HDF5: " + first_line(innermost) + ")";
}

bool is_hdf5_file(const std::string& path) {
#if H5_VERSION_GE(1, 12, 0)
  return H5Fis_accessible(path.c_str(), H5P_DEFAULT) > 0;
#else
  return H5Fis_hdf5(path.c_str()) > 0;
#endif
}

void H5Reader::fail(const std::string& what) const { throw WeightsError(path_ + ": " + what); }

std::optional<std::vector<std::string>> H5Reader::string_list(hid_t object,
                                                              const std::string& object_name,
                                                              const std::string& name) const {
  if (H5Aexists(object, name.c_str()) > 0) return read_strings(object, object_name, name);
  if (H5Aexists(object, (name + "0").c_str()) <= 0) return std::nullopt;
  std::vector<std::string> all;
  for (int chunk = 0; H5Aexists(object, (name + std::to_string(chunk)).c_str()) > 0; ++chunk) {
    auto part = read_strings(object, object_name, name + std::to_string(chunk));
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

torch::Tensor H5Reader::float_dataset(hid_t group, const std::string& relative,
                                      const std::string& object_name) const {
  H5Handle dataset(H5Dopen2(group, relative.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.ok()) fail("cannot open dataset '" + object_name + "'" + hdf5_reason());
  H5Handle type(H5Dget_type(dataset.get()), H5Tclose);
  H5Handle space(H5Dget_space(dataset.get()), H5Sclose);
  if (!type.ok() || !space.ok()) fail("cannot read dataset '" + object_name + "'" + hdf5_reason());
  const auto type_class = H5Tget_class(type.get());
  if (type_class != H5T_FLOAT) {
    fail("dataset '" + object_name + "' holds " + h5_class_name(type_class) +
         " data, expected float32");
  }
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail("cannot read the shape of dataset '" + object_name + "'" + hdf5_reason());
  std::vector<hsize_t> dims(size_t(rank), 0);
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  std::vector<int64_t> sizes(dims.begin(), dims.end());
  auto tensor = torch::empty(sizes, torch::kFloat32);
  if (tensor.numel() > 0 && H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                    tensor.data_ptr<float>()) < 0) {
    fail("cannot read dataset '" + object_name + "'" + hdf5_reason());
  }
  return tensor;
}

std::vector<std::string> H5Reader::read_strings(hid_t object, const std::string& object_name,
                                                const std::string& name) const {
  const std::string what = "attribute '" + name + "' of '" + object_name + "'";
  H5Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) fail("cannot open " + what + hdf5_reason());
  H5Handle space(H5Aget_space(attr.get()), H5Sclose);
  H5Handle type(H5Aget_type(attr.get()), H5Tclose);
  if (!space.ok() || !type.ok()) fail("cannot read " + what + hdf5_reason());
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  // Keras writes a layer without weights as an empty float64 array.
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL || count == 0) return {};
  if (count < 0) fail("cannot read " + what + hdf5_reason());
  if (H5Tget_class(type.get()) != H5T_STRING) {
    fail(what + " holds " + h5_class_name(H5Tget_class(type.get())) + " data, expected strings");
  }
  if (H5Tis_variable_str(type.get()) > 0) {
    return read_variable_strings(attr.get(), type.get(), space.get(), count, what);
  }
  return read_fixed_strings(attr.get(), type.get(), count, what);
}

// Variable-length strings (h5py's str), in the file's character set.
std::vector<std::string> H5Reader::read_variable_strings(hid_t attr, hid_t type, hid_t space,
                                                         hssize_t count,
                                                         const std::string& what) const {
  H5Handle memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(memory_type.get(), H5T_VARIABLE);
  H5Tset_cset(memory_type.get(), H5Tget_cset(type));
  std::vector<char*> buffer(size_t(count), nullptr);
  if (H5Aread(attr, memory_type.get(), buffer.data()) < 0) {
    fail("cannot read " + what + hdf5_reason());
  }
  std::vector<std::string> values;
  for (char* value : buffer) values.emplace_back(value ? value : "");
  reclaim_vlen(memory_type.get(), space, buffer.data());
  return values;
}

// Fixed-length strings (numpy bytes arrays), null- or space-padded.
std::vector<std::string> H5Reader::read_fixed_strings(hid_t attr, hid_t type, hssize_t count,
                                                      const std::string& what) const {
  const size_t size = H5Tget_size(type);
  H5Handle memory_type(H5Tcopy(type), H5Tclose);
  std::vector<char> buffer(size * size_t(count) + 1, '\0');
  if (size == 0 || H5Aread(attr, memory_type.get(), buffer.data()) < 0) {
    fail("cannot read " + what + hdf5_reason());
  }
  const bool space_padded = H5Tget_strpad(type) == H5T_STR_SPACEPAD;
  std::vector<std::string> values;
  for (hssize_t i = 0; i < count; ++i) {
    std::string value(buffer.data() + size_t(i) * size, size);
    value.resize(std::min(value.size(), value.find('\0')));
    if (space_padded) value.erase(value.find_last_not_of(' ') + 1);
    values.push_back(value);
  }
  return values;
}

}  // namespace cifar_exp
