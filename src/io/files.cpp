#include "deepdyn/io/files.h"

#include <c10/util/Exception.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace deepdyn::io {

void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  bool written = false;
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    TORCH_CHECK(out.good(), "cannot write '", temporary, "': check that the directory exists and is writable");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    written = out.good();
  }
  if (!written) std::remove(temporary.c_str());
  TORCH_CHECK(written, "writing '", path, "' failed (disk full?); the previous file, if any, is unchanged");
  const bool renamed = std::rename(temporary.c_str(), path.c_str()) == 0;
  if (!renamed) std::remove(temporary.c_str());
  TORCH_CHECK(renamed, "cannot rename '", temporary, "' to '", path, "'");
}

namespace {

// Little-endian fields of the zip format (PKWARE APPNOTE 6.3, sections 4.3.7, 4.3.12, 4.3.14-16).
class ZipReader {
 public:
  ZipReader(const std::string& bytes, const std::string& origin) : bytes_(bytes), origin_(origin) {}

  uint64_t field(uint64_t at, int width) const {
    TORCH_CHECK(at + width <= bytes_.size(), "'", origin_, "' is not a complete zip archive (cut short?)");
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; --i) value = (value << 8) | uint8_t(bytes_[at + i]);
    return value;
  }

  // The central directory: {offset, number of entries}, from the (zip64) end-of-central-directory record.
  std::pair<uint64_t, uint64_t> central_directory() const {
    constexpr uint32_t kEnd = 0x06054b50, kEnd64 = 0x06064b50, kLocator64 = 0x07064b50;
    TORCH_CHECK(bytes_.size() >= 22, "'", origin_, "' is not a zip archive (too short)");
    uint64_t end = bytes_.size() - 22;  // the record is 22 bytes and a comment of up to 64 KiB
    while (field(end, 4) != kEnd) {
      TORCH_CHECK(end > 0 && bytes_.size() - end < 22 + 65536, "'", origin_,
                  "' is not a zip archive (no end of central directory)");
      --end;
    }
    uint64_t offset = field(end + 16, 4), entries = field(end + 10, 2);
    if (end >= 20 && field(end - 20, 4) == kLocator64) {
      const uint64_t end64 = field(end - 20 + 8, 8);
      TORCH_CHECK(field(end64, 4) == kEnd64, "'", origin_, "' has a damaged zip64 directory record");
      offset = field(end64 + 48, 8);
      entries = field(end64 + 32, 8);
    }
    return {offset, entries};
  }

  // Checks the entry whose central directory header is at `at`; returns the next header's offset.
  uint64_t check_entry(uint64_t at) const {
    constexpr uint32_t kCentral = 0x02014b50, kLocal = 0x04034b50;
    TORCH_CHECK(field(at, 4) == kCentral, "'", origin_, "' has a damaged zip central directory");
    const uint64_t method = field(at + 10, 2), crc = field(at + 16, 4), name_length = field(at + 28, 2),
                   extra_length = field(at + 30, 2), comment_length = field(at + 32, 2);
    uint64_t size = field(at + 20, 4), local = field(at + 42, 4);
    const std::string name = bytes_.substr(at + 46, name_length);
    // Sizes and offsets too large for 32 bits are in the zip64 extra field, in this order.
    for (uint64_t extra = at + 46 + name_length; extra + 4 <= at + 46 + name_length + extra_length;) {
      const uint64_t id = field(extra, 2), length = field(extra + 2, 2);
      if (id == 0x0001) {
        uint64_t next = extra + 4;
        if (field(at + 24, 4) == 0xFFFFFFFF) next += 8;  // uncompressed size
        if (field(at + 20, 4) == 0xFFFFFFFF) size = field(next, 8), next += 8;
        if (field(at + 42, 4) == 0xFFFFFFFF) local = field(next, 8);
      }
      extra += 4 + length;
    }
    TORCH_CHECK(field(local, 4) == kLocal, "'", origin_, "' has a damaged zip entry '", name, "'");
    const uint64_t data = local + 30 + field(local + 26, 2) + field(local + 28, 2);
    if (method == 0) {  // stored, as LibTorch writes every entry
      TORCH_CHECK(data + size <= bytes_.size(), "'", origin_, "' is cut short inside '", name, "'");
      uLong actual = crc32(0L, Z_NULL, 0);
      for (uint64_t done = 0; done < size;) {  // zlib takes 32-bit lengths
        const uInt chunk = uInt(std::min<uint64_t>(size - done, 1u << 30));
        actual = crc32(actual, reinterpret_cast<const Bytef*>(bytes_.data() + data + done), chunk);
        done += chunk;
      }
      TORCH_CHECK(actual == crc, "'", origin_, "' is damaged: its entry '", name,
                  "' fails its CRC-32 check (a changed byte); restore the file from a copy, or start again");
    }
    return at + 46 + name_length + extra_length + comment_length;
  }

 private:
  const std::string& bytes_;
  const std::string& origin_;
};

}  // namespace

void check_zip_checksums(const std::string& bytes, const std::string& origin) {
  const ZipReader zip(bytes, origin);
  auto [at, entries] = zip.central_directory();
  for (uint64_t i = 0; i < entries; ++i) at = zip.check_entry(at);
}

}  // namespace deepdyn::io
