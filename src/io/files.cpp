// Fault-tolerant files: atomic durable writes, checksums, locks, liveness (see files.h).
#include "cifar_exp/io/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cifar_exp/io/errors.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int error) {
  throw OutputError(path + ": " + what + ": " + std::strerror(error));
}

// Makes a rename (or a new file) in `dir` durable. File systems that cannot sync a folder say
// EINVAL; that is not a failure of ours.
void sync_folder(const std::string& dir, const std::string& path) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0 && error != EINVAL && error != EROFS) fail(path, "cannot sync folder", error);
}

std::string folder_of(const std::string& path) { return fs::path(path).parent_path().string(); }

std::string crc_line(const std::string& content) {
  char line[64];
  std::snprintf(line, sizeof line, "crc32 %08" PRIx32 " size %zu\n", crc32_of(content),
                content.size());
  return line;
}

}  // namespace

// Unique per process and per call, so that threads writing the same path never share one.
std::string temporary_path(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

void move_into_place(const std::string& temp, const std::string& path) {
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    fail(path, "cannot rename temporary file into place", error);
  }
  sync_folder(folder_of(path), path);
}

namespace {

// Writes `content` to a fresh temporary file beside `path` and syncs it; returns its name. On
// failure the temporary file is removed and OutputError names `path` and the reason.
std::string write_temporary(const std::string& path, const std::string& content) {
  const std::string temp = temporary_path(path);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create file", errno);
  auto give_up = [&](const char* what, int error) {
    ::close(fd);
    ::unlink(temp.c_str());
    fail(path, what, error);
  };
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) give_up("cannot write file", errno);
    if (n == 0) give_up("cannot write file", ENOSPC);  // no progress: no room left
    written += size_t(n);
  }
  if (::fsync(fd) != 0) give_up("cannot write file (fsync)", errno);
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    fail(path, "cannot write file (close)", error);
  }
  return temp;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  move_into_place(write_temporary(path, content), path);
}

std::string json_text(const nlohmann::json& doc, int indent) {
  return doc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string write_new_file(const std::string& stem, const std::string& extension,
                           const std::string& content) {
  const std::string temp = write_temporary(stem + extension, content);
  for (int suffix = 1; suffix < 10000; ++suffix) {
    const std::string path =
        suffix == 1 ? stem + extension : stem + "-" + std::to_string(suffix) + extension;
    // link() never replaces: it fails with EEXIST when another command took the name first.
    if (::link(temp.c_str(), path.c_str()) == 0) {
      ::unlink(temp.c_str());
      sync_folder(folder_of(path), path);
      return path;
    }
    if (errno != EEXIST) {
      const int error = errno;
      ::unlink(temp.c_str());
      fail(path, "cannot create file", error);
    }
  }
  ::unlink(temp.c_str());
  fail(stem + extension, "cannot create file (9999 files of this name)", EEXIST);
}

std::string read_file(const std::string& path) {
  // A folder opens as a stream whose first read throws from inside libstdc++.
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) {
    throw OutputError(path + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open file", errno);
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) fail(path, "cannot read file", errno);
  return out.str();
}

uint32_t crc32_of(const std::string& bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* data = reinterpret_cast<const Bytef*>(bytes.data());
  size_t left = bytes.size();
  while (left > 0) {  // zlib takes 32-bit lengths
    const uInt chunk = uInt(std::min<size_t>(left, 1u << 30));
    crc = ::crc32(crc, data, chunk);
    data += chunk;
    left -= chunk;
  }
  return uint32_t(crc);
}

std::string previous_path(const std::string& path) {
  const fs::path p(path);
  return (p.parent_path() / (p.stem().string() + ".prev" + p.extension().string())).string();
}

void write_checked_file(const std::string& path, const std::string& content, bool keep_previous) {
  const std::string sum_path = path + ".crc32";
  // Both new files are complete on disk before anything existing is touched: a full disk
  // leaves the previous file and its checksum as they were.
  const std::string temp = write_temporary(path, content);
  std::string sum_temp;
  try {
    sum_temp = write_temporary(sum_path, crc_line(content));
  } catch (const OutputError&) {
    ::unlink(temp.c_str());
    throw;
  }
  if (keep_previous && ::access(path.c_str(), F_OK) == 0) {
    const std::string previous = previous_path(path);
    if (::rename(path.c_str(), previous.c_str()) != 0 ||
        (::access(sum_path.c_str(), F_OK) == 0 &&
         ::rename(sum_path.c_str(), (previous + ".crc32").c_str()) != 0)) {
      const int error = errno;
      ::unlink(temp.c_str());
      ::unlink(sum_temp.c_str());
      fail(path, "cannot keep the previous copy", error);
    }
  }
  // A crash between these two renames leaves a file whose checksum does not match: reported as
  // corrupted, with the previous copy still intact.
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    ::unlink(sum_temp.c_str());
    fail(path, "cannot rename temporary file into place", error);
  }
  move_into_place(sum_temp, sum_path);
}

CheckedFile read_checked_file(const std::string& path) {
  CheckedFile file;
  file.content = read_file(path);
  std::ifstream sum(path + ".crc32");
  if (!sum) return file;  // kUnchecked
  std::string word_crc, hex, word_size;
  uint64_t size = 0;
  if (!(sum >> word_crc >> hex >> word_size >> size) || word_crc != "crc32" ||
      word_size != "size") {
    file.integrity = Integrity::kCorrupted;
    file.problem = "its checksum file " + path + ".crc32 is unreadable";
    return file;
  }
  if (file.content.size() != size) {
    file.integrity = Integrity::kCorrupted;
    file.problem = "size " + std::to_string(file.content.size()) +
                   " bytes, its checksum file says " + std::to_string(size) +
                   (file.content.size() < size ? " (truncated)" : "");
    return file;
  }
  char actual[16];
  std::snprintf(actual, sizeof actual, "%08" PRIx32, crc32_of(file.content));
  if (hex != actual) {
    file.integrity = Integrity::kCorrupted;
    file.problem = "checksum mismatch (crc32 " + std::string(actual) + ", expected " + hex + ")";
    return file;
  }
  file.integrity = Integrity::kIntact;
  return file;
}

std::optional<FileLock> FileLock::try_acquire(const std::string& path) {
  std::error_code ec;
  fs::create_directories(folder_of(path), ec);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create lock file", errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) return std::nullopt;
    fail(path, "cannot lock", error);
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

namespace {

int64_t start_ticks_of(int64_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return std::stoll(field);
  }
  return 0;
}

}  // namespace

ProcessIdentity ProcessIdentity::current() {
  ProcessIdentity me;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  me.host = host;
  me.pid = ::getpid();
  me.start_ticks = start_ticks_of(me.pid);
  return me;
}

nlohmann::json to_json(const ProcessIdentity& process) {
  return {{"host", process.host}, {"pid", process.pid}, {"start_ticks", process.start_ticks}};
}

ProcessIdentity process_from_json(const nlohmann::json& p) {
  ProcessIdentity process;
  if (!p.is_object()) return process;
  // Hand-edited values of another type read as unknown rather than throwing.
  const auto integer = [&](const char* key) {
    return p.contains(key) && p[key].is_number_integer() ? p[key].get<int64_t>() : int64_t(0);
  };
  process.host = p.contains("host") && p["host"].is_string() ? p["host"].get<std::string>() : "";
  process.pid = integer("pid");
  process.start_ticks = integer("start_ticks");
  return process;
}

std::optional<bool> process_alive(const ProcessIdentity& process) {
  if (process.host != ProcessIdentity::current().host || process.pid <= 0) return std::nullopt;
  if (::kill(pid_t(process.pid), 0) != 0 && errno == ESRCH) return false;
  // The pid exists; it is the same process only if it started at the same moment.
  const int64_t ticks = start_ticks_of(process.pid);
  return process.start_ticks == 0 || ticks == 0 || ticks == process.start_ticks;
}

}  // namespace cifar_exp
