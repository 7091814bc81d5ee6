//===- Artifact.h - the lowbit model artifact (.lbm) ------------*- C++ -*-===//
//
// One file holds a compiled model: metadata, the compiled code, the packed
// weights and the tokenizer, as named sections behind a header and a
// section table with checksums (docs/artifact.md gives the bytes). The
// compiler writes it, the runtime reads it; neither side needs LLVM or MLIR
// for this.
//
//===----------------------------------------------------------------------===//

#ifndef LOWBIT_RUNTIME_ARTIFACT_H
#define LOWBIT_RUNTIME_ARTIFACT_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::runtime {

/// The format version this runtime reads and writes.
constexpr uint32_t kArtifactVersion = 1;

/// Section names.
constexpr std::string_view kMetadataSection = "metadata";
constexpr std::string_view kCodeSection = "code";
constexpr std::string_view kWeightsSection = "weights";
constexpr std::string_view kTokenizerSection = "tokenizer";
/// Symbols of a GPU model's code (docs/artifact.md): the prefix of the
/// pointer slot of each MLIR GPU runtime function it calls
/// (`lowbit_gpu_<name>`), and the functions that load and unload its kernel
/// modules.
constexpr std::string_view kGPURuntimeSlotPrefix = "lowbit_gpu_";
constexpr std::string_view kGPULoadModulesSymbol = "lowbit_gpu_load_modules";
constexpr std::string_view kGPUUnloadModulesSymbol =
    "lowbit_gpu_unload_modules";
/// The prefix of the pointer slot of each collective function the code of
/// a tensor-parallel model calls (`lowbit_slot_<name>`, the names in the
/// metadata's `collective_functions`).
constexpr std::string_view kCollectiveSlotPrefix = "lowbit_slot_";

/// Sets, in the loaded code `library`, the pointer slot (`slotPrefix` +
/// name) of every function named in `names` (comma-separated, as the
/// metadata lists them) to this runtime's implementation in `functions`;
/// false with `error` set for a name `functions` lacks or a slot the code
/// lacks. `kind` names the functions in messages ("GPU runtime function").
bool bindSlots(void *library, const std::string &names,
               const std::map<std::string, void *> &functions,
               std::string_view slotPrefix, const std::string &kind,
               std::string &error);

/// The weights section of `rank` in a model sharded over `worldSize`
/// tensor-parallel ranks: `weights` for an unsharded model, `weights.<rank>`
/// otherwise.
inline std::string getWeightsSectionName(int rank, int worldSize) {
  std::string name(kWeightsSection);
  return worldSize > 1 ? name + "." + std::to_string(rank) : name;
}

/// FNV-1a, 64 bits: the checksum of every section and of the table.
uint64_t fnv1a64(const void *data, size_t size);

/// Builds an artifact in memory.
class ArtifactWriter {
public:
  /// Adds a section; names are at most 15 bytes and unique.
  void addSection(std::string_view name, std::string_view contents);
  /// Adds the metadata section from key/value pairs.
  void addMetadata(const std::map<std::string, std::string> &metadata);
  /// The bytes of the artifact.
  std::string finish() const;

private:
  std::vector<std::pair<std::string, std::string>> sections;
};

/// A verified artifact held in memory, sections aligned to 64 bytes.
class Artifact {
public:
  /// Reads and verifies `path`; on failure returns null and sets `error`
  /// to a message naming the file and the problem.
  static std::unique_ptr<Artifact> open(const std::string &path,
                                        std::string &error);

  /// The section `name`, or an empty view when there is none.
  std::string_view section(std::string_view name) const;
  bool hasSection(std::string_view name) const;
  /// Metadata value of `key`, or empty.
  std::string metadata(const std::string &key) const;
  /// Metadata value of `key` as an integer; false when missing or not one.
  bool metadataInteger(const std::string &key, int64_t &value) const;
  const std::string &getPath() const { return path; }

private:
  Artifact() = default;

  std::string path;
  std::unique_ptr<char, void (*)(void *)> bytes{nullptr, nullptr};
  size_t size = 0;
  std::map<std::string, std::string_view, std::less<>> sections;
  std::map<std::string, std::string> metadataValues;
};

} // namespace lowbit::runtime

#endif // LOWBIT_RUNTIME_ARTIFACT_H
