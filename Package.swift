// swift-tools-version:6.0
import Foundation
import PackageDescription

#if arch(x86_64)
// AVX2 and FMA (Haswell, 2013, and every x86 server since): the engine's own kernels
// (pooling, Winograd transforms, activations) vectorize 8 floats wide instead of SSE's 4.
let cpu = ["-target-cpu", "haswell"]
#else
let cpu: [String] = []
#endif
let optimize: [SwiftSetting] = [.unsafeFlags(cpu, .when(configuration: .release))]
// The engine alone drops Swift's overflow and precondition checks in release builds, because a
// benchmark shows it pays there (its Swift kernels; docs/DECISIONS.md). SALIENT_CHECKED=1
// keeps them on, for the test run with checks that `make test` builds in .build-checked.
let checked = ProcessInfo.processInfo.environment["SALIENT_CHECKED"] != nil
let engine: [SwiftSetting] = [.unsafeFlags((checked ? [] : ["-Ounchecked"]) + cpu, .when(configuration: .release))]
// Swift 6 language mode target by target (docs/DECISIONS.md): every library target is in it;
// the `salient` command and the tests stay in Swift 5 mode.
let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

// Linux only: the code calls Glibc (its sockets by name, malloc_trim through <malloc.h>) outside
// any `#if canImport(Darwin)`, so no Apple platform is claimed.
let package = Package(
    name: "Salient",
    products: [
        .executable(name: "salient", targets: ["salient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CTurboJPEG", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CMalloc"),
        // PostgreSQL's own client library, for replicas sharing a database (docs/DECISIONS.md).
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        .target(name: "CKernels"),
        // libjpeg-turbo's libjpeg API, for the warnings TurboJPEG's API does not tell apart.
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "CNN", dependencies: [
            "CKernels", "COpenBLAS", "CZlib",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], swiftSettings: engine + swift6),
        .target(name: "Imaging", dependencies: ["CJPEG", "CTurboJPEG", "CPNG", "CZlib"],
                swiftSettings: optimize + swift6),
        .target(name: "HTTPServer", dependencies: [
            "CZlib", "COpenSSL",
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swift6),
        .target(name: "Service", dependencies: [
            "CNN", "Imaging", "HTTPServer", "COpenSSL", "CMalloc", "CPostgres",
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ], resources: [.copy("Resources/models"), .copy("Resources/openapi.json")], swiftSettings: swift6),
        .executableTarget(name: "salient", dependencies: [
            "Service", "CNN", "Imaging", "CMalloc",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: optimize),

        // Builders of hostile and unusual input (bomb JPEGs, short PNGs, ONNX files) the tests share.
        .target(name: "TestSupport", dependencies: ["CZlib"], path: "Tests/TestSupport"),
        .testTarget(name: "CNNTests", dependencies: ["CNN", "TestSupport"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TestSupport"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"]),
        .testTarget(name: "ServiceTests", dependencies: ["Service", "HTTPServer", "CNN", "Imaging", "TestSupport"]),
        // Attacks on the real `salient serve` of the release build, its memory read from /proc.
        .testTarget(name: "ServeTests", dependencies: ["TestSupport"]),
        // torchvision's catalogue (`make test-zoo`); skipped unless SALIENT_ZOO is set.
        .testTarget(name: "ZooTests", dependencies: ["CNN", "Imaging", "Service"]),
    ],
    swiftLanguageModes: [.v5]
)
