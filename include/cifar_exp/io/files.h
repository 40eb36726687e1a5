// Files that must survive faults: atomic, durable writes (temporary file, fsync, rename, fsync of
// the folder), a checksum beside every large binary file so that corruption is detected instead
// of trained on, per-run locks so that two processes never run the same run, and whether the
// process that wrote a run is still alive. Every failure is an OutputError (exit 5) naming the
// file and the system's reason ("No space left on device", "File too large", ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace cifar_exp {

// Writes `content` to `path` so that, whatever happens (a full disk, a crash, a power cut), the
// path holds either its previous content or the new one: a temporary file in the same folder,
// written and fsync'ed, renamed over `path`, then the folder fsync'ed. On failure the temporary
// file is removed, `path` is untouched, and OutputError names `path` and the system's reason.
void write_file_atomic(const std::string& path, const std::string& content);

// The temporary name a file is written under before it is renamed into place; unique per
// process, so concurrent runs (sweep tasks sharing a cache) never write the same temporary file.
std::string temporary_path(const std::string& path);
// Renames a finished temporary file over `path` and syncs the folder; OutputError (temporary
// removed) on failure.
void move_into_place(const std::string& temp, const std::string& path);

// Writes `content` to a new file `<stem><extension>`, or `<stem>-2<extension>`, -3, ... when
// that name is taken, and returns its path: never replaces a file, also when commands race for
// the name (evaluation-<UTC>.json of two evaluations in the same second). Atomic as above.
std::string write_new_file(const std::string& stem, const std::string& extension,
                           const std::string& content);

// `doc` as JSON text (indent as json::dump; no final newline) for a file or the terminal. Bytes
// that are not UTF-8 (a folder name, a path) are replaced with U+FFFD instead of throwing.
std::string json_text(const nlohmann::json& doc, int indent = 2);

// Reads a whole file; OutputError naming it when it cannot be read.
std::string read_file(const std::string& path);

// Checksummed binary files (checkpoints, model and weights files, feature-cache entries): the
// content goes to `path` and "crc32 <8 hex digits> size <bytes>" to `path`.crc32, both atomically.
// When `keep_previous` is set, the file it replaces (with its checksum) is kept as
// `<stem>.prev<ext>` first, so that a crash between the two renames, or a later corruption,
// still leaves one intact copy.
void write_checked_file(const std::string& path, const std::string& content,
                        bool keep_previous = false);

enum class Integrity { kIntact, kCorrupted, kUnchecked };
struct CheckedFile {
  Integrity integrity = Integrity::kUnchecked;
  std::string problem;  // for kCorrupted: "checksum mismatch", "truncated: 123 of 456 bytes", ...
  std::string content;  // the bytes, when the file could be read
};
// Reads `path` and verifies it against `path`.crc32. kUnchecked when there is no checksum file
// (written by an older cifar-exp); OutputError when `path` cannot be read at all.
CheckedFile read_checked_file(const std::string& path);

// `<stem>.prev<ext>` beside `path`: "run/checkpoint.pt" -> "run/checkpoint.prev.pt".
std::string previous_path(const std::string& path);

// CRC-32 (zlib's) of a byte string.
uint32_t crc32_of(const std::string& bytes);

// An exclusive lock on `path` (created if needed) held until destruction or process exit (so a
// crash releases it). try_acquire returns nullopt when another process holds it.
class FileLock {
 public:
  static std::optional<FileLock> try_acquire(const std::string& path);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// This process, as summary.json records it, so that another process can tell whether the run
// is still going: host name, pid, and the pid's start time (to see through pid reuse).
struct ProcessIdentity {
  std::string host;
  int64_t pid = 0;
  int64_t start_ticks = 0;  // field 22 of /proc/<pid>/stat
  static ProcessIdentity current();
};
// The "process" object of summary.json ({"host", "pid", "start_ticks"}) and back; a missing or
// malformed object gives an identity with pid 0, whose liveness is unknown.
nlohmann::json to_json(const ProcessIdentity& process);
ProcessIdentity process_from_json(const nlohmann::json& process);

// Whether the process is still running. Only answerable on the same host: nullopt elsewhere.
std::optional<bool> process_alive(const ProcessIdentity& process);

}  // namespace cifar_exp
