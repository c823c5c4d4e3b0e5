// Reads what a launch needs from a module image: for a CUBIN (ELF, machine EM_CUDA) the entry functions,
// their parameter layout (EIATTR_KPARAM_INFO), registers (EIATTR_REGCOUNT), __launch_bounds__
// (EIATTR_MAX_THREADS), static shared memory (.nv.shared.<name>) and frame size; for PTX the .entry
// parameter lists, .maxntid and the target. Nothing in the image is executed: the host build of the same
// kernel file runs instead, after modules.cpp has matched the two.
#include <cstring>
#include <map>
#include <regex>
#include <string>

#include "internal.h"

namespace lzn::emu {
namespace {

constexpr uint16_t kMachineCuda = 190;

// .nv.info attribute codes (the EIATTR_ names cuobjdump prints).
constexpr uint8_t kAttrMaxThreads = 0x05;
constexpr uint8_t kAttrRequiredThreads = 0x10;
constexpr uint8_t kAttrFrameSize = 0x11;
constexpr uint8_t kAttrParameterInfo = 0x17;
constexpr uint8_t kAttrParameterBankSize = 0x19;
constexpr uint8_t kAttrRegisterCount = 0x2f;
constexpr uint8_t kFormatSizedValue = 0x04;
constexpr int kSm90ReservedShared = 1024;

template <typename T>
T read(const unsigned char* bytes, size_t offset) {
    T value;
    std::memcpy(&value, bytes + offset, sizeof value);
    return value;
}

struct Section {
    std::string name;
    uint64_t offset, size;
};

// Calls visit(attribute, data, length) for every entry of a .nv.info section.
template <typename Visit>
bool for_each_attribute(const unsigned char* data, uint64_t size, Visit visit) {
    uint64_t at = 0;
    while (at + 4 <= size) {
        uint8_t format = data[at], attribute = data[at + 1];
        if (format == kFormatSizedValue) {
            uint16_t length = read<uint16_t>(data, at + 2);
            if (at + 4 + length > size) return false;
            visit(attribute, data + at + 4, length);
            at += 4 + length;
        } else {
            visit(attribute, data + at + 2, 2);
            at += 4;
        }
    }
    return at == size;
}

int product_of_three(const unsigned char* data, uint16_t length) {
    if (length < 12) return 0;
    return (int)(read<uint32_t>(data, 0) * read<uint32_t>(data, 4) * read<uint32_t>(data, 8));
}

bool parse_cubin(const unsigned char* bytes, Image& image, std::string& error) {
    if (bytes[4] != 2) return error = "the CUBIN is not a 64-bit ELF file", false;
    if (read<uint16_t>(bytes, 0x12) != kMachineCuda) return error = "the ELF file is not a CUDA image (machine is not EM_CUDA)", false;
    image.cubin = true;
    image.architecture = (int)(read<uint32_t>(bytes, 0x30) & 0xff);
    uint64_t section_offset = read<uint64_t>(bytes, 0x28);
    uint16_t entry_size = read<uint16_t>(bytes, 0x3a), count = read<uint16_t>(bytes, 0x3c), names = read<uint16_t>(bytes, 0x3e);
    if (entry_size < 64 || names >= count) return error = "the CUBIN's section table is malformed", false;

    std::vector<Section> sections(count);
    std::vector<uint32_t> name_offsets(count);
    for (uint16_t i = 0; i < count; i++) {
        const uint64_t at = section_offset + (uint64_t)i * entry_size;
        name_offsets[i] = read<uint32_t>(bytes, at);
        sections[i].offset = read<uint64_t>(bytes, at + 0x18);
        sections[i].size = read<uint64_t>(bytes, at + 0x20);
    }
    const char* strings = reinterpret_cast<const char*>(bytes + sections[names].offset);
    for (uint16_t i = 0; i < count; i++) sections[i].name = strings + name_offsets[i];

    // Symbol names by index (REGCOUNT and FRAME_SIZE name their function by symbol index).
    std::map<uint32_t, std::string> symbols;
    for (const auto& section : sections) {
        if (section.name != ".symtab") continue;
        const Section* table = nullptr;
        for (const auto& candidate : sections)
            if (candidate.name == ".strtab") table = &candidate;
        if (!table) break;
        for (uint64_t at = 0, index = 0; at + 24 <= section.size; at += 24, index++)
            symbols[(uint32_t)index] = reinterpret_cast<const char*>(bytes + table->offset + read<uint32_t>(bytes, section.offset + at));
    }

    std::map<std::string, int> shared, registers, frames;
    for (const auto& section : sections) {
        if (section.name.rfind(".nv.shared.", 0) == 0) shared[section.name.substr(11)] = (int)section.size;
        if (section.name != ".nv.info") continue;
        for_each_attribute(bytes + section.offset, section.size, [&](uint8_t attribute, const unsigned char* data, uint16_t length) {
            if (length < 8 || (attribute != kAttrRegisterCount && attribute != kAttrFrameSize)) return;
            auto symbol = symbols.find(read<uint32_t>(data, 0));
            if (symbol == symbols.end()) return;
            (attribute == kAttrRegisterCount ? registers : frames)[symbol->second] = (int)read<uint32_t>(data, 4);
        });
    }

    for (const auto& section : sections) {
        if (section.name.rfind(".nv.info.", 0) != 0) continue;
        ImageFunction function;
        function.name = section.name.substr(9);
        bool ok = for_each_attribute(bytes + section.offset, section.size, [&](uint8_t attribute, const unsigned char* data, uint16_t length) {
            if (attribute == kAttrParameterInfo && length >= 12) {
                uint32_t flags = read<uint32_t>(data, 8);
                function.parameters.push_back({read<uint16_t>(data, 4), read<uint16_t>(data, 6), (int)(flags >> 18)});
            } else if (attribute == kAttrParameterBankSize) {
                function.parameter_bytes = read<uint16_t>(data, 0);
            } else if (attribute == kAttrMaxThreads || attribute == kAttrRequiredThreads) {
                function.max_threads = product_of_three(data, length);
            }
        });
        if (!ok) return error = "the attributes of " + function.name + " in the CUBIN are malformed", false;
        std::vector<ImageParameter> ordered(function.parameters.size(), ImageParameter{-1, 0, 0});
        for (const auto& parameter : function.parameters) {
            if (parameter.ordinal < 0 || parameter.ordinal >= (int)ordered.size())
                return error = "parameter ordinals of " + function.name + " in the CUBIN are not 0..n-1", false;
            ordered[parameter.ordinal] = parameter;
        }
        function.parameters = ordered;
        function.registers = registers.count(function.name) ? registers[function.name] : 0;
        function.local_bytes = frames.count(function.name) ? frames[function.name] : 0;
        function.static_shared = shared.count(function.name) ? shared[function.name] : 0;
        // NVRTC 11.8's sm_90 CUBINs count the driver's 1 KiB per-block reservation into .nv.shared (every
        // kernel that uses shared memory has it); the opt-in maximum (227 KiB) excludes it.
        if (image.architecture >= 90 && function.static_shared >= kSm90ReservedShared) function.static_shared -= kSm90ReservedShared;
        image.functions.push_back(function);
    }
    return true;
}

int ptx_type_bytes(const std::string& type) {
    if (type.size() < 3) return 0;
    return std::atoi(type.c_str() + 2) / 8;
}

bool parse_ptx(const char* text, Image& image, std::string& error) {
    std::string ptx(text);
    image.cubin = false;
    std::smatch target;
    if (std::regex_search(ptx, target, std::regex(R"(\.target\s+sm_(\d+))"))) image.architecture = std::stoi(target[1]);
    static const std::regex entry(R"(\.entry\s+([A-Za-z_$][\w$]*)\s*\(([^)]*)\))");
    static const std::regex parameter(R"(\.param\s+(?:\.align\s+(\d+)\s+)?(\.[a-z]\d+)\s+[\w$]+(?:\[(\d+)\])?)");
    for (auto it = std::sregex_iterator(ptx.begin(), ptx.end(), entry); it != std::sregex_iterator(); ++it) {
        ImageFunction function;
        function.name = (*it)[1];
        std::string list = (*it)[2];
        int offset = 0;
        for (auto p = std::sregex_iterator(list.begin(), list.end(), parameter); p != std::sregex_iterator(); ++p) {
            int element = ptx_type_bytes((*p)[2]);
            int size = (*p)[3].matched ? element * std::stoi((*p)[3]) : element;
            int align = (*p)[1].matched ? std::stoi((*p)[1]) : element;
            if (size <= 0 || align <= 0) return error = "cannot read the parameters of " + function.name + " in the PTX", false;
            offset = (offset + align - 1) / align * align;
            function.parameters.push_back({(int)function.parameters.size(), offset, size});
            offset += size;
        }
        function.parameter_bytes = offset;
        // Performance directives sit between the parameter list and the body.
        static const std::regex bounds_directive(R"(\.(?:maxntid|reqntid)\s+(\d+)(?:\s*,\s*(\d+))?(?:\s*,\s*(\d+))?)");
        std::string rest = ptx.substr(it->position() + it->length(), 256);
        std::string head = rest.substr(0, rest.find('{'));
        std::smatch bounds;
        if (std::regex_search(head, bounds, bounds_directive))
            function.max_threads = std::stoi(bounds[1]) * (bounds[2].matched ? std::stoi(bounds[2]) : 1) *
                                   (bounds[3].matched ? std::stoi(bounds[3]) : 1);
        image.functions.push_back(function);
    }
    if (image.functions.empty()) return error = "the PTX has no .entry function", false;
    return true;
}

}  // namespace

const ImageFunction* Image::find(const std::string& name) const {
    for (const auto& function : functions)
        if (function.name == name) return &function;
    return nullptr;
}

bool parse_image(const void* data, Image& image, std::string& error) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    if (!bytes) return error = "the image pointer is null", false;
    if (std::memcmp(bytes, "\x7f" "ELF", 4) == 0) return parse_cubin(bytes, image, error);
    const char* text = static_cast<const char*>(data);
    if (std::strstr(text, ".version") && std::strstr(text, ".entry")) return parse_ptx(text, image, error);
    error = "the image is neither a CUBIN (ELF) nor PTX text (a fatbinary is not supported by the emulator)";
    return false;
}

}  // namespace lzn::emu
