//===- Artifact.cpp - the lowbit model artifact (.lbm) --------------------===//
//
// Writes and verifies the artifact bytes. Reading checks everything before
// anything is used: the magic, the version, that the file is as long as
// the header says, that the table and every section lie inside it, and
// every checksum, so a truncated or corrupt file is an error that says so.
//
//===----------------------------------------------------------------------===//

#include "lowbit/Runtime/Artifact.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

using namespace lowbit::runtime;

namespace {
constexpr char kMagic[8] = {'L', 'O', 'W', 'B', 'I', 'T', 'A', 'R'};
constexpr size_t kHeaderBytes = 32;
constexpr size_t kEntryBytes = 40;
constexpr size_t kNameBytes = 16;
constexpr size_t kSectionAlignment = 64;

size_t alignUp(size_t value) {
  return (value + kSectionAlignment - 1) / kSectionAlignment *
         kSectionAlignment;
}

template <typename T> void put(std::string &out, size_t at, T value) {
  std::memcpy(&out[at], &value, sizeof(T));
}
template <typename T> T get(const char *data, size_t at) {
  T value;
  std::memcpy(&value, data + at, sizeof(T));
  return value;
}
} // namespace

uint64_t lowbit::runtime::fnv1a64(const void *data, size_t size) {
  const auto *bytes = static_cast<const unsigned char *>(data);
  uint64_t hash = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

void ArtifactWriter::addSection(std::string_view name,
                                std::string_view contents) {
  sections.emplace_back(std::string(name), std::string(contents));
}

void ArtifactWriter::addMetadata(
    const std::map<std::string, std::string> &metadata) {
  std::string text;
  for (const auto &[key, value] : metadata)
    text += key + "=" + value + "\n";
  addSection(kMetadataSection, text);
}

std::string ArtifactWriter::finish() const {
  size_t tableEnd = kHeaderBytes + kEntryBytes * sections.size();
  size_t offset = alignUp(tableEnd);
  std::vector<size_t> offsets;
  for (const auto &section : sections) {
    offsets.push_back(offset);
    offset = alignUp(offset + section.second.size());
  }
  std::string out(offset, '\0');
  std::memcpy(&out[0], kMagic, sizeof(kMagic));
  put<uint32_t>(out, 8, kArtifactVersion);
  put<uint32_t>(out, 12, static_cast<uint32_t>(sections.size()));
  put<uint64_t>(out, 16, static_cast<uint64_t>(out.size()));
  for (size_t i = 0; i < sections.size(); ++i) {
    const auto &[name, contents] = sections[i];
    size_t entry = kHeaderBytes + kEntryBytes * i;
    std::memcpy(&out[entry], name.data(),
                std::min(name.size(), kNameBytes - 1));
    put<uint64_t>(out, entry + 16, offsets[i]);
    put<uint64_t>(out, entry + 24, contents.size());
    put<uint64_t>(out, entry + 32, fnv1a64(contents.data(), contents.size()));
    std::memcpy(&out[offsets[i]], contents.data(), contents.size());
  }
  // The table checksum covers the header before it and the whole table.
  std::string covered = out.substr(0, 24) + out.substr(kHeaderBytes,
                                                       tableEnd - kHeaderBytes);
  put<uint64_t>(out, 24, fnv1a64(covered.data(), covered.size()));
  return out;
}

std::unique_ptr<Artifact> Artifact::open(const std::string &path,
                                         std::string &error) {
  auto fail = [&](const std::string &message) -> std::unique_ptr<Artifact> {
    error = "'" + path + "' " + message;
    return nullptr;
  };
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file)
    return fail("cannot be opened");
  std::streamoff fileSize = file.tellg();
  if (fileSize < static_cast<std::streamoff>(kHeaderBytes))
    return fail("is not a lowbit artifact: it is shorter than the header");
  std::unique_ptr<Artifact> artifact(new Artifact());
  artifact->path = path;
  artifact->size = static_cast<size_t>(fileSize);
  // Aligned so that sections, at multiples of 64 bytes, are aligned too.
  artifact->bytes = std::unique_ptr<char, void (*)(void *)>(
      static_cast<char *>(
          std::aligned_alloc(kSectionAlignment, alignUp(artifact->size))),
      std::free);
  if (!artifact->bytes)
    return fail("does not fit in memory");
  char *data = artifact->bytes.get();
  file.seekg(0);
  if (!file.read(data, fileSize))
    return fail("cannot be read");

  if (std::memcmp(data, kMagic, sizeof(kMagic)) != 0)
    return fail("is not a lowbit artifact (bad magic)");
  uint32_t version = get<uint32_t>(data, 8);
  if (version != kArtifactVersion)
    return fail("has artifact format version " + std::to_string(version) +
                "; this runtime reads version " +
                std::to_string(kArtifactVersion) + ": recompile the model");
  uint64_t declaredSize = get<uint64_t>(data, 16);
  if (declaredSize != artifact->size)
    return fail("is truncated or padded: the header says " +
                std::to_string(declaredSize) + " bytes, the file has " +
                std::to_string(artifact->size));
  uint32_t count = get<uint32_t>(data, 12);
  size_t tableEnd = kHeaderBytes + kEntryBytes * static_cast<size_t>(count);
  if (count > 1024 || tableEnd > artifact->size)
    return fail("has a section table that does not fit the file");
  std::string covered = std::string(data, 24) +
                        std::string(data + kHeaderBytes, tableEnd - kHeaderBytes);
  if (fnv1a64(covered.data(), covered.size()) != get<uint64_t>(data, 24))
    return fail("has a corrupt section table (checksum mismatch)");

  for (uint32_t i = 0; i < count; ++i) {
    size_t entry = kHeaderBytes + kEntryBytes * i;
    std::string name(data + entry, strnlen(data + entry, kNameBytes));
    uint64_t offset = get<uint64_t>(data, entry + 16);
    uint64_t length = get<uint64_t>(data, entry + 24);
    if (offset < tableEnd || offset > artifact->size ||
        length > artifact->size - offset)
      return fail("has section '" + name + "' outside the file");
    if (fnv1a64(data + offset, length) != get<uint64_t>(data, entry + 32))
      return fail("has a corrupt '" + name + "' section (checksum mismatch)");
    artifact->sections[name] = std::string_view(data + offset, length);
  }

  std::string_view metadata = artifact->section(kMetadataSection);
  if (!artifact->hasSection(kMetadataSection))
    return fail("has no metadata section");
  while (!metadata.empty()) {
    size_t end = metadata.find('\n');
    std::string_view line = metadata.substr(0, end);
    size_t equals = line.find('=');
    if (equals == std::string_view::npos)
      return fail("has a malformed metadata line '" + std::string(line) + "'");
    artifact->metadataValues[std::string(line.substr(0, equals))] =
        std::string(line.substr(equals + 1));
    metadata = end == std::string_view::npos ? std::string_view()
                                             : metadata.substr(end + 1);
  }
  return artifact;
}

std::string_view Artifact::section(std::string_view name) const {
  auto it = sections.find(name);
  return it == sections.end() ? std::string_view() : it->second;
}

bool Artifact::hasSection(std::string_view name) const {
  return sections.find(name) != sections.end();
}

std::string Artifact::metadata(const std::string &key) const {
  auto it = metadataValues.find(key);
  return it == metadataValues.end() ? std::string() : it->second;
}

bool Artifact::metadataInteger(const std::string &key, int64_t &value) const {
  std::string text = metadata(key);
  if (text.empty())
    return false;
  char *end = nullptr;
  long long parsed = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0')
    return false;
  value = parsed;
  return true;
}

bool lowbit::runtime::bindSlots(void *library, const std::string &names,
                                const std::map<std::string, void *> &functions,
                                std::string_view slotPrefix,
                                const std::string &kind, std::string &error) {
  for (size_t begin = 0; begin < names.size();) {
    size_t end = std::min(names.find(',', begin), names.size());
    std::string name = names.substr(begin, end - begin);
    begin = end + 1;
    auto function = functions.find(name);
    if (function == functions.end()) {
      error = "its code calls the " + kind + " '" + name +
              "', which this runtime does not provide";
      return false;
    }
    auto *slot = static_cast<void **>(
        dlsym(library, (std::string(slotPrefix) + name).c_str()));
    if (!slot) {
      error = "its code lacks the slot of " + kind + " '" + name + "'";
      return false;
    }
    *slot = function->second;
  }
  return true;
}
