// The host builds of kernels/*.cu (modules/<file>.so beside this library) and the rules by which an image
// handed to cuModuleLoadData is matched to one: the same entry functions, the same parameter sizes, and
// kernel sources on disk identical to the ones the module was built from. An image from edited kernels
// is refused with the reason, never run with the emulator's older code.
#include <dirent.h>
#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "internal.h"

namespace lzn::emu {
namespace {

std::string library_folder() {
    Dl_info info{};
    if (!dladdr(reinterpret_cast<void*>(&library_folder), &info) || !info.dli_fname) return ".";
    std::string path = info.dli_fname;
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

struct SegmentSearch {
    void* handle;
    HostModule* module;
};

int record_segments(struct dl_phdr_info* info, size_t, void* data) {
    auto* search = static_cast<SegmentSearch*>(data);
    if (!info->dlpi_name || search->module->path != info->dlpi_name) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const auto& header = info->dlpi_phdr[i];
        if (header.p_type == PT_LOAD)
            search->module->segments.emplace_back(info->dlpi_addr + header.p_vaddr, info->dlpi_addr + header.p_vaddr + header.p_memsz);
        if (header.p_type == PT_TLS) search->module->tls_size = header.p_memsz;
    }
    return 1;
}

std::vector<HostModule*> load_all(std::string& error) {
    std::vector<HostModule*> modules;
    std::string folder = library_folder() + "/modules";
    DIR* directory = opendir(folder.c_str());
    if (!directory) {
        error = "the emulator has no kernel modules (" + folder + " is missing): build it with `dotnet pwsh ./build.ps1 emulator`";
        return modules;
    }
    std::vector<std::string> names;
    while (dirent* entry = readdir(directory)) {
        std::string name = entry->d_name;
        if (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0) names.push_back(name);
    }
    closedir(directory);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        auto* module = new HostModule();
        module->path = folder + "/" + name;
        module->handle = dlopen(module->path.c_str(), RTLD_NOW | RTLD_LOCAL);
        auto entry = module->handle ? reinterpret_cast<lzn_emu_module_fn>(dlsym(module->handle, "lzn_emu_module")) : nullptr;
        if (!entry || entry()->abi_version != LZN_EMU_ABI_VERSION) {
            error = "kernel module " + module->path + " cannot be used: " +
                    (module->handle ? "it is not a module of this emulator version" : std::string(dlerror()));
            delete module;
            continue;
        }
        module->info = entry();
        SegmentSearch search{module->handle, module};
        dl_iterate_phdr(record_segments, &search);
        modules.push_back(module);
    }
    if (modules.empty() && error.empty()) error = "the emulator has no kernel modules in " + folder;
    return modules;
}

std::string read_file(const std::string& path, bool& found) {
    std::ifstream file(path, std::ios::binary);
    found = (bool)file;
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

std::string source_folder_override;
std::mutex source_folder_mutex;

// Empty when every source the module was built from is unchanged on disk, else which file changed. A file
// that is gone is not checked: an installed emulator has no sources beside it.
std::string stale_sources(const HostModule& module) {
    std::string folder;
    {
        std::lock_guard<std::mutex> lock(source_folder_mutex);
        folder = source_folder_override;
    }
    for (int i = 0; i < module.info->source_count; i++) {
        const auto& source = module.info->sources[i];
        std::string path = source.path;
        if (!folder.empty()) path = folder + path.substr(path.rfind('/'));
        bool found = false;
        std::string now = read_file(path, found);
        if (!found) continue;
        if (now.size() != source.length || std::memcmp(now.data(), source.bytes, source.length) != 0)
            return path + " changed after the emulator was built; rebuild it (`dotnet pwsh ./build.ps1 emulator`)";
    }
    return "";
}

}  // namespace

const lzn_emu_kernel_info* HostModule::kernel(const std::string& name) const {
    for (int i = 0; i < info->kernel_count; i++)
        if (name == info->kernels[i].name) return &info->kernels[i];
    return nullptr;
}

const std::vector<HostModule*>& host_modules(std::string& error) {
    static std::once_flag once;
    static std::vector<HostModule*> modules;
    static std::string load_error;
    std::call_once(once, [] { modules = load_all(load_error); });
    error = load_error;
    return modules;
}

void set_source_folder(const std::string& folder) {
    std::lock_guard<std::mutex> lock(source_folder_mutex);
    source_folder_override = folder;
}

const HostModule* match_module(const Image& image, std::string& error) {
    std::string load_error;
    const auto& modules = host_modules(load_error);
    const HostModule* best = nullptr;
    int best_count = 0;
    for (const HostModule* module : modules) {
        int count = 0;
        for (const auto& function : image.functions) count += module->kernel(function.name) ? 1 : 0;
        if (count > best_count) best = module, best_count = count;
    }
    if (!best) {
        std::string first = image.functions.empty() ? "?" : image.functions.front().name;
        error = "no kernel module of the emulator has " + first + (load_error.empty() ? "" : " (" + load_error + ")") +
                "; the image comes from a kernel file the emulator was not built from: rebuild it (`dotnet pwsh ./build.ps1 emulator`)";
        return nullptr;
    }
    const std::string file = best->info->file;
    for (const auto& function : image.functions) {
        const lzn_emu_kernel_info* host = best->kernel(function.name);
        if (!host) {
            error = "the image has kernel " + function.name + ", which the emulator's build of " + file +
                    " lacks: the image comes from an edited " + file + "; rebuild the emulator";
            return nullptr;
        }
        if (host->param_count != (int)function.parameters.size()) {
            error = "kernel " + function.name + " has " + std::to_string(function.parameters.size()) +
                    " parameters in the image but " + std::to_string(host->param_count) + " in the emulator's build of " + file +
                    ": rebuild the emulator";
            return nullptr;
        }
        for (int p = 0; p < host->param_count; p++) {
            if (host->param_sizes[p] != function.parameters[p].size) {
                error = "parameter " + std::to_string(p) + " of kernel " + function.name + " is " +
                        std::to_string(function.parameters[p].size) + " bytes in the image but " +
                        std::to_string(host->param_sizes[p]) + " in the emulator's build of " + file + ": rebuild the emulator";
                return nullptr;
            }
        }
    }
    for (int i = 0; i < best->info->kernel_count; i++) {
        if (!image.find(best->info->kernels[i].name)) {
            error = "the emulator's build of " + file + " has kernel " + best->info->kernels[i].name +
                    ", which the image lacks: the image comes from another version of " + file + "; rebuild the emulator";
            return nullptr;
        }
    }
    std::string stale = stale_sources(*best);
    if (!stale.empty()) {
        error = stale;
        return nullptr;
    }
    return best;
}

}  // namespace lzn::emu
