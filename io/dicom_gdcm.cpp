// DICOM through GDCM 3: the C API of io/dicom.h. No C++ exception may cross into C, so every
// entry point catches everything and turns it into rv_err. UIDs are derived from a hash of
// the pixel data so that the same image always gives the same file (demo data is compared
// byte for byte across runs and rank counts).
extern "C" {
#include "core/hash.h"
#include "io/dicom.h"
#include "io/dicom_scan.h"
#include "io/isolate.h"
}

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include <gdcmAttribute.h>
#include <gdcmDataElement.h>
#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmImageWriter.h>
#include <gdcmMediaStorage.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmPixelFormat.h>
#include <gdcmTransferSyntax.h>
#include <gdcmTrace.h>
#include <gdcmUIDs.h>
#include <gdcmVR.h>

extern "C" {
#include "core/fsutil.h"
}

namespace {

void set_err(rv_err *err, const std::string &msg) {
    if (err) std::snprintf(err->msg, sizeof err->msg, "%s", msg.c_str());
}

// First value of a multi-valued DS element, if present and parseable.
bool first_ds(const gdcm::DataSet &ds, uint16_t g, uint16_t e, double *out) {
    gdcm::Tag t(g, e);
    if (!ds.FindDataElement(t)) return false;
    const gdcm::DataElement &de = ds.GetDataElement(t);
    const gdcm::ByteValue *bv = de.GetByteValue();
    if (!bv || bv->GetLength() == 0) return false;
    std::string s(bv->GetPointer(), bv->GetLength());
    size_t bs = s.find('\\');
    if (bs != std::string::npos) s.resize(bs);
    char *end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || !std::isfinite(v)) return false;
    *out = v;
    return true;
}

// The file's bytes as a seekable input stream, without a copy (GDCM seeks back and forth).
class MemBuf : public std::streambuf {
  public:
    MemBuf(const unsigned char *p, size_t n) {
        char *b = const_cast<char *>(reinterpret_cast<const char *>(p)); // read only: no put area
        setg(b, b, b + n);
    }

  protected:
    pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override {
        const off_type base = dir == std::ios_base::beg ? 0 : dir == std::ios_base::cur ? gptr() - eback() : egptr() - eback();
        const off_type to = base + off;
        if (to < 0 || to > egptr() - eback()) return pos_type(off_type(-1));
        setg(eback(), eback() + to, egptr());
        return pos_type(to);
    }
    pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
        return seekoff(off_type(pos), std::ios_base::beg, which);
    }
};

// GDCM's part of a read: data[len] (the whole file) already passed io/dicom_scan.h (scan). The
// first frame goes to out [scan.rows, scan.columns] (uint16, 8-bit data widened).
int gdcm_decode(const char *where, const unsigned char *data, size_t len, const rv_dicom_scan &scan,
                rv_dicom_info *info, uint16_t *out, rv_err *err) {
    const std::string path(where);
    MemBuf membuf(data, len);
    std::istream stream(&membuf);
    gdcm::ImageReader reader;
    reader.SetStream(stream);
    if (!reader.Read()) {
        set_err(err, std::string(path) + ": not a readable DICOM image (GDCM could not parse it; the file is "
                                         "truncated, damaged or not DICOM)");
        return -1;
    }
    const gdcm::Image &im = reader.GetImage();
    const gdcm::PixelFormat &pf = im.GetPixelFormat();
    const unsigned int *dims = im.GetDimensions();
    if (im.GetNumberOfDimensions() < 2 || dims[0] == 0 || dims[1] == 0 || dims[0] > 65535 || dims[1] > 65535) {
        set_err(err, std::string(path) + ": DICOM image has invalid dimensions");
        return -1;
    }
    if (pf.GetSamplesPerPixel() != 1) {
        set_err(err, std::string(path) + ": DICOM image has " + std::to_string(pf.GetSamplesPerPixel()) +
                         " samples per pixel; only grayscale (1) is supported");
        return -1;
    }
    int bits_alloc = pf.GetBitsAllocated();
    if (bits_alloc != 8 && bits_alloc != 16) {
        set_err(err, std::string(path) + ": DICOM BitsAllocated " + std::to_string(bits_alloc) +
                         " is not supported (8 or 16)");
        return -1;
    }
    if ((long long)dims[0] != scan.columns || (long long)dims[1] != scan.rows) { // GDCM must decode what was checked
        set_err(err, path + ": GDCM reads the image as " + std::to_string(dims[0]) + " x " + std::to_string(dims[1]) +
                         " pixels but Rows x Columns say " + std::to_string(scan.columns) + " x " +
                         std::to_string(scan.rows) + "; the file is damaged");
        return -1;
    }
    const int w = (int)dims[0], h = (int)dims[1];
    const size_t n = (size_t)w * (size_t)h;
    const size_t need = n * (size_t)(bits_alloc / 8);
    const size_t have = im.GetBufferLength();
    if (have < need) {
        set_err(err, std::string(path) + ": DICOM pixel data is shorter than rows x columns (" + std::to_string(have) +
                         " < " + std::to_string(need) + " bytes); the file is truncated");
        return -1;
    }
    const gdcm::DataSet &pds = reader.GetFile().GetDataSet();
    const gdcm::Tag pixtag(0x7fe0, 0x0010);
    if (pds.FindDataElement(pixtag)) {
        const gdcm::ByteValue *pbv = pds.GetDataElement(pixtag).GetByteValue();
        if (pbv && pbv->GetLength() < need) {
            set_err(err, std::string(path) + ": DICOM pixel data holds " + std::to_string(pbv->GetLength()) +
                             " bytes, rows x columns needs " + std::to_string(need) + "; the file is truncated or damaged");
            return -1;
        }
    }
    std::vector<char> buf(have);
    if (!im.GetBuffer(buf.data())) {
        set_err(err, std::string(path) + ": cannot decode the DICOM pixel data (unsupported compression or "
                                         "truncated file)");
        return -1;
    }
    rv_dicom_info in{};
    in.rows = h;
    in.columns = w;
    in.bits_allocated = bits_alloc;
    in.bits_stored = pf.GetBitsStored();
    in.pixel_representation = pf.GetPixelRepresentation();
    in.monochrome1 = im.GetPhotometricInterpretation() == gdcm::PhotometricInterpretation::MONOCHROME1;
    in.rescale_slope = im.GetSlope();
    in.rescale_intercept = im.GetIntercept();
    const gdcm::DataSet &ds = reader.GetFile().GetDataSet();
    double wc = 0, ww = 0;
    if (first_ds(ds, 0x0028, 0x1050, &wc) && first_ds(ds, 0x0028, 0x1051, &ww)) {
        in.has_window = true;
        in.window_center = wc;
        in.window_width = ww;
    }
    if (bits_alloc == 8) {
        for (size_t i = 0; i < n; i++) out[i] = (uint8_t)buf[i];
    } else {
        std::memcpy(out, buf.data(), n * 2); // GDCM returns host (little-endian) order
    }
    if (info) *info = in;
    return 0;
}

// GDCM runs in a child process (io/isolate.h), which writes the first frame and the header values
// into a shared mapping.
struct ChildResult {
    rv_dicom_info info;
    int width, height;
    char msg[sizeof(rv_err{}.msg)];
};

struct ChildJob {
    const char *where;
    const unsigned char *data;
    size_t len;
    const rv_dicom_scan *scan;
    ChildResult *res; // in the shared mapping
    uint16_t *px;     // in the shared mapping: scan->rows x scan->columns
};

int child_decode(void *arg) {
    ChildJob *j = static_cast<ChildJob *>(arg);
    rv_err e{};
    int rc = -1;
    try {
        rc = gdcm_decode(j->where, j->data, j->len, *j->scan, &j->res->info, j->px, &e);
    } catch (const std::exception &ex) {
        std::snprintf(e.msg, sizeof e.msg, "%s: DICOM read failed: %s", j->where, ex.what());
    } catch (...) {
        std::snprintf(e.msg, sizeof e.msg, "%s: DICOM read failed (unknown GDCM error)", j->where);
    }
    if (rc != 0) {
        std::snprintf(j->res->msg, sizeof j->res->msg, "%s", e.msg);
        return -1;
    }
    j->res->width = (int)j->scan->columns;
    j->res->height = (int)j->scan->rows;
    return 0; // the child exits: nothing to free
}

int isolated_decode(const char *where, const unsigned char *data, size_t len, const rv_dicom_scan &scan,
                    rv_dicom_info *info, rv_image *img, rv_err *err) {
    const size_t npx = (size_t)scan.rows * (size_t)scan.columns;
    const size_t head = (sizeof(ChildResult) + 63) / 64 * 64;
    const size_t map_len = head + npx * 2;
    void *shared = rv_shared_alloc(map_len);
    if (!shared) {
        set_err(err, std::string(where) + ": cannot map " + std::to_string(map_len) + " bytes for the DICOM decoder");
        return -1;
    }
    ChildJob job{where, data, len, &scan, static_cast<ChildResult *>(shared),
                 reinterpret_cast<uint16_t *>(static_cast<char *>(shared) + head)};
    // GDCM keeps the file, its parsed copy and the decoded frames: a few times the file and image
    const size_t frame_bytes = npx * (size_t)(scan.bits_allocated / 8) * (size_t)scan.frames;
    rv_isolate_limits lim{};
    lim.cpu_seconds = 120;
    lim.wall_seconds = 600;
    lim.extra_address_space = ((size_t)1 << 30) + 4 * len + 4 * frame_bytes;
    int rc = rv_isolate_run(where, child_decode, &job, &lim, err);
    if (rc == 1) {
        set_err(err, job.res->msg);
        rc = -1;
    } else if (rc == 0 && rv_image_alloc(img, job.res->width, job.res->height, 16, err) == 0) {
        std::memcpy(img->u16, job.px, npx * 2);
        if (info) *info = job.res->info;
    } else {
        rc = -1;
    }
    rv_shared_free(shared, map_len);
    return rc;
}

// A 1 x 1 8-bit explicit VR little endian DICOM, built here: GDCM reads it once in this process
// (warm_gdcm) so that its lazily built tables exist before the first fork, instead of being built
// again in every child (that cost ~10 ms per image).
std::string tiny_dicom() {
    auto el = [](uint16_t g, uint16_t e, const char *vr, const std::string &v) {
        std::string out;
        auto put16 = [&](uint16_t x) { out += (char)(x & 0xFF); out += (char)(x >> 8); };
        put16(g);
        put16(e);
        out += vr;
        const bool long_form = vr[0] == 'O';
        if (long_form) {
            put16(0);
            put16((uint16_t)v.size());
            put16(0);
        } else {
            put16((uint16_t)v.size());
        }
        return out + v;
    };
    auto us = [](uint16_t x) { return std::string{(char)(x & 0xFF), (char)(x >> 8)}; };
    std::string body = el(2, 0x0010, "UI", std::string("1.2.840.10008.1.2.1", 19) + '\0');
    std::string glen = el(2, 0x0000, "UL", std::string{(char)body.size(), 0, 0, 0});
    return std::string(128, '\0') + "DICM" + glen + body + el(0x0028, 0x0002, "US", us(1)) +
           el(0x0028, 0x0010, "US", us(1)) + el(0x0028, 0x0011, "US", us(1)) + el(0x0028, 0x0100, "US", us(8)) +
           el(0x7FE0, 0x0010, "OB", std::string(2, '\0'));
}

bool warm_gdcm() {
    const std::string d = tiny_dicom();
    rv_dicom_scan scan;
    rv_err err;
    uint16_t px[1];
    if (rv_dicom_scan_bytes("tiny", (const unsigned char *)d.data(), d.size(), 0, &scan, &err) == 0)
        gdcm_decode("tiny", (const unsigned char *)d.data(), d.size(), scan, nullptr, px, &err);
    return true;
}

// data[len] is the whole file. GDCM (as packaged) asserts, aborting the process, on many kinds of
// malformed input (fuzz_dicom keeps finding new ones: a VR unlike the dictionary's, odd lengths in
// items, BitsStored in 8-bit data, codec streams). So: io/dicom_scan.h walks every byte first
// (clear messages, the pixel budget before any allocation), then GDCM runs in a child process,
// where an assertion costs a bad record, never this process (docs/limits.md).
int decode_impl(const char *where, const unsigned char *data, size_t len, long long max_pixels, rv_dicom_info *info,
                rv_image *img, rv_err *err) {
    rv_dicom_scan scan;
    if (rv_dicom_scan_bytes(where, data, len, max_pixels, &scan, err) != 0) return -1;
    static const bool warmed = warm_gdcm(); // once per process (thread-safe static initialisation)
    (void)warmed;
    return isolated_decode(where, data, len, scan, info, img, err);
}

// 128-bit FNV-1a style mix (two 64-bit lanes) of the pixels and header values, written as a
// "2.25.<decimal>" UID (ISO/IEC 9834-8 UUID-derived OID form, always valid syntax). The lane
// seed is not FNV's offset basis (it lacks a digit) and must stay as it is: the UIDs are written
// into the synthetic DICOM files, which stay byte-identical.
std::string content_uid(const std::vector<uint16_t> &px, const rv_dicom_info *info, unsigned salt) {
    const uint64_t seed = 1469598103934665603ULL;
    uint64_t a = seed ^ salt, b = RV_FNV1A64_PRIME * (salt + 7);
    auto mix = [&](uint64_t v) {
        a = (a ^ v) * RV_FNV1A64_PRIME;
        b = (b ^ (v + 0x9e3779b97f4a7c15ULL)) * 6364136223846793005ULL + 1442695040888963407ULL;
    };
    for (uint16_t v : px) mix(v);
    mix((uint64_t)info->rows << 32 | (uint32_t)info->columns);
    mix((uint64_t)info->bits_stored << 8 | (info->monochrome1 ? 1u : 0u));
    // 2.25 needs the decimal value of a 128-bit integer; keep it to 119 bits so it stays
    // well inside the 64-character UID limit (2.25. + at most 36 digits).
    unsigned __int128 v = ((unsigned __int128)(a >> 9) << 64) | b;
    char digits[48];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v != 0 && nd < 40);
    std::string s = "2.25.";
    while (nd > 0) s += digits[--nd];
    return s;
}

void put_str(gdcm::DataSet &ds, uint16_t g, uint16_t e, gdcm::VR::VRType vr, const std::string &v) {
    gdcm::DataElement de(gdcm::Tag(g, e));
    de.SetVR(vr);
    std::string s = v;
    if (s.size() % 2) s += vr == gdcm::VR::UI ? '\0' : ' '; // even length; UI pads with NUL
    de.SetByteValue(s.data(), (uint32_t)s.size());
    ds.Replace(de);
}

int write_impl(const char *path, const rv_image *img, const rv_dicom_info *info, rv_err *err) {
    if (!img || (img->bits == 8 && !img->u8) || (img->bits == 16 && !img->u16) || (img->bits != 8 && img->bits != 16)) {
        set_err(err, std::string(path) + ": DICOM output needs an 8- or 16-bit image with pixels");
        return -1;
    }
    int stored = info->bits_stored > 0 ? info->bits_stored : 16;
    if (stored < 8 || stored > 16) {
        set_err(err, std::string(path) + ": DICOM BitsStored " + std::to_string(stored) + " out of range 8..16");
        return -1;
    }
    const size_t n = (size_t)img->width * (size_t)img->height;
    std::vector<uint16_t> px(n);
    const uint32_t maxv = (1u << stored) - 1u;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = img->bits == 8 ? img->u8[i] : img->u16[i];
        if (v > maxv) {
            set_err(err, std::string(path) + ": pixel value " + std::to_string(v) + " does not fit BitsStored " +
                             std::to_string(stored) + "; scale the image first");
            return -1;
        }
        px[i] = (uint16_t)v;
    }
    rv_dicom_info hdr = *info;
    hdr.rows = img->height;
    hdr.columns = img->width;
    hdr.bits_stored = stored;

    gdcm::ImageWriter writer;
    gdcm::Image &im = writer.GetImage();
    im.SetNumberOfDimensions(2);
    im.SetDimension(0, (unsigned)img->width);
    im.SetDimension(1, (unsigned)img->height);
    gdcm::PixelFormat pf(1, 16, (unsigned short)stored, (unsigned short)(stored - 1),
                         (unsigned short)(info->pixel_representation ? 1 : 0));
    im.SetPixelFormat(pf);
    im.SetPhotometricInterpretation(info->monochrome1 ? gdcm::PhotometricInterpretation::MONOCHROME1
                                                      : gdcm::PhotometricInterpretation::MONOCHROME2);
    im.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
    if (info->rescale_slope != 0.0 && (info->rescale_slope != 1.0 || info->rescale_intercept != 0.0)) {
        im.SetSlope(info->rescale_slope);
        im.SetIntercept(info->rescale_intercept);
    }
    gdcm::DataElement pixeldata(gdcm::Tag(0x7fe0, 0x0010));
    pixeldata.SetByteValue(reinterpret_cast<const char *>(px.data()), (uint32_t)(n * 2));
    im.SetDataElement(pixeldata);

    gdcm::File &file = writer.GetFile();
    gdcm::DataSet &ds = file.GetDataSet();
    const bool cr = info->monochrome1; // CR plates are commonly MONOCHROME1
    const char *sop_class = cr ? "1.2.840.10008.5.1.4.1.1.1" : "1.2.840.10008.5.1.4.1.1.1.1";
    put_str(ds, 0x0008, 0x0016, gdcm::VR::UI, sop_class);
    put_str(ds, 0x0008, 0x0018, gdcm::VR::UI, content_uid(px, &hdr, 1));
    put_str(ds, 0x0008, 0x0060, gdcm::VR::CS, cr ? "CR" : "DX");
    put_str(ds, 0x0008, 0x0008, gdcm::VR::CS, "ORIGINAL\\PRIMARY");
    put_str(ds, 0x0010, 0x0010, gdcm::VR::PN, "PHANTOM^DEMO");
    put_str(ds, 0x0010, 0x0020, gdcm::VR::LO, "PHANTOM");
    put_str(ds, 0x0018, 0x5101, gdcm::VR::CS, "PA");
    put_str(ds, 0x0020, 0x000d, gdcm::VR::UI, content_uid(px, &hdr, 2));
    put_str(ds, 0x0020, 0x000e, gdcm::VR::UI, content_uid(px, &hdr, 3));
    put_str(ds, 0x0020, 0x0013, gdcm::VR::IS, "1");
    // Fixed dates: GDCM would otherwise stamp the current date and time.
    put_str(ds, 0x0008, 0x0020, gdcm::VR::DA, "20000101");
    put_str(ds, 0x0008, 0x0030, gdcm::VR::TM, "000000");
    put_str(ds, 0x0008, 0x0023, gdcm::VR::DA, "20000101");
    put_str(ds, 0x0008, 0x0033, gdcm::VR::TM, "000000");
    if (info->has_window) {
        char b[64];
        std::snprintf(b, sizeof b, "%.6g", info->window_center);
        put_str(ds, 0x0028, 0x1050, gdcm::VR::DS, b);
        std::snprintf(b, sizeof b, "%.6g", info->window_width);
        put_str(ds, 0x0028, 0x1051, gdcm::VR::DS, b);
    }
    // Deterministic file meta: GDCM otherwise stamps its own name and version.
    gdcm::FileMetaInformation::SetImplementationVersionName("RADVLM-HPC");
    gdcm::FileMetaInformation::SetSourceApplicationEntityTitle("RADVLM-HPC");

    std::string tmp = std::string(path) + ".tmp-dcm";
    writer.SetFileName(tmp.c_str());
    if (!writer.Write()) {
        std::remove(tmp.c_str());
        set_err(err, std::string(path) + ": GDCM could not write the DICOM file (check the directory exists and is writable)");
        return -1;
    }
    // Re-write through the atomic helper so the final name appears complete or not at all.
    char *data = nullptr;
    size_t len = 0;
    rv_err e2;
    if (rv_read_file(tmp.c_str(), &data, &len, &e2) != 0) {
        std::remove(tmp.c_str());
        set_err(err, std::string(path) + ": " + e2.msg);
        return -1;
    }
    std::remove(tmp.c_str());
    int rc = rv_write_atomic(path, data, len, err);
    std::free(data);
    return rc;
}

} // namespace

extern "C" int rv_dicom_decode(const char *where, const unsigned char *data, size_t len, long long max_pixels,
                               rv_dicom_info *info, rv_image *img, rv_err *err) {
    if (img) std::memset(img, 0, sizeof *img);
    try {
        gdcm::Trace::SetWarning(false); // our own message says what failed
        gdcm::Trace::SetDebug(false);
        int rc = decode_impl(where, data, len, max_pixels, info, img, err);
        if (rc != 0) rv_image_free(img);
        return rc;
    } catch (const std::exception &e) {
        rv_image_free(img);
        set_err(err, std::string(where) + ": DICOM read failed: " + e.what());
    } catch (...) {
        rv_image_free(img);
        set_err(err, std::string(where) + ": DICOM read failed (unknown GDCM error)");
    }
    return -1;
}

extern "C" int rv_dicom_read_max(const char *path, long long max_pixels, rv_dicom_info *info, rv_image *img,
                                 rv_err *err) {
    if (img) std::memset(img, 0, sizeof *img);
    char *raw = nullptr;
    size_t rawlen = 0;
    rv_err e2;
    if (rv_read_file(path, &raw, &rawlen, &e2) != 0) {
        set_err(err, std::string(path) + ": cannot read DICOM file (" + e2.msg + ")");
        return -1;
    }
    int rc = rv_dicom_decode(path, (const unsigned char *)raw, rawlen, max_pixels, info, img, err);
    std::free(raw);
    return rc;
}

extern "C" int rv_dicom_read(const char *path, rv_dicom_info *info, rv_image *img, rv_err *err) {
    return rv_dicom_read_max(path, RV_IMAGE_MAX_PIXELS_DEFAULT, info, img, err);
}

extern "C" int rv_dicom_write(const char *path, const rv_image *img, const rv_dicom_info *info, rv_err *err) {
    try {
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetDebug(false);
        return write_impl(path, img, info, err);
    } catch (const std::exception &e) {
        set_err(err, std::string(path) + ": DICOM write failed: " + e.what());
    } catch (...) {
        set_err(err, std::string(path) + ": DICOM write failed (unknown GDCM error)");
    }
    return -1;
}
