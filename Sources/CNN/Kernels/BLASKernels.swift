import COpenBLAS
import Foundation

/// Which of OpenBLAS's kernel tables runs our GEMMs.
///
/// Debian's OpenBLAS is built for every x86 core and picks a table by the CPU's model number
/// when it loads. A CPU newer than the library (0.3.21 in Debian 12 does not know Emerald
/// Rapids, model 207) falls back to the SSE3 "Prescott" kernels, which ran SqueezeNet 4.3x
/// and ResNet-50 3.6x slower than the AVX-512 ones on such a machine. So when the table it
/// chose uses narrower vectors than the CPU has, we choose again by the CPU's features,
/// as OpenBLAS's `OPENBLAS_CORETYPE` would; a user's own `OPENBLAS_CORETYPE` always stands.
public enum BLASKernels {
    /// The table in use, as OpenBLAS names it ("Haswell", "SkylakeX", ...).
    public static var coreName: String {
        EngineThreads.prepareBLAS()
        return String(cString: openblas_get_corename())
    }

    /// The table OpenBLAS chose by itself, when we replaced it.
    public private(set) nonisolated(unsafe) static var replacedCoreName: String?

    /// Called once, before the first GEMM.
    static func chooseForThisCPU() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let flags = cpuFlags(), let best = bestCore(flags: flags) else { return }
        let chosen = String(cString: openblas_get_corename())
        guard vectorWidth(of: chosen) < vectorWidth(of: best) else { return }
        setenv("OPENBLAS_CORETYPE", best, 1)
        gotoblas_dynamic_quit()
        gotoblas_dynamic_init()
        unsetenv("OPENBLAS_CORETYPE")
        replacedCoreName = chosen
    }

    /// The widest table the CPU can run, by the features OpenBLAS itself checks for it.
    static func bestCore(flags: Set<Substring>) -> String? {
        if ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(flags.contains) {
            return flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        }
        return flags.isSuperset(of: ["avx2", "fma"]) ? "Haswell" : nil
    }

    /// 16 for AVX-512 tables, 8 for AVX2 ones, 4 for the rest.
    static func vectorWidth(of core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": 16
        case "haswell", "zen", "excavator": 8
        default: 4
        }
    }

    /// The CPU feature flags the kernel reports (those whose register state it saves, so
    /// AVX-512 only where the kernel enabled it).
    private static func cpuFlags() -> Set<Substring>? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }
}
