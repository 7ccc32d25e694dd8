// swift-tools-version: 6.1
// Cairn: a distributed persistent volume service. See docs/architecture.md for the module map.
import PackageDescription

let strict: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny")
]

/// RocksDB from Debian's static archive (librocksdb-dev ships it with the -dev packages of its
/// compression libraries): linked into the executable, its thread-local counters (touched on every
/// key comparison) are plain %fs accesses instead of `__tls_get_addr` calls through the shared
/// library — about a tenth of a metadata member's apply time (docs/benchmarks.md).
let rocksDBLinking: [LinkerSetting] = [
  .unsafeFlags([
    "-Xlinker", "-l:librocksdb.a", "-lgflags", "-lsnappy", "-lz", "-lbz2", "-llz4", "-lzstd", "-lstdc++", "-lm",
  ])
]

let package = Package(
  name: "Cairn",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "cairn", targets: ["cairn"]),
    .executable(name: "cairn-bench", targets: ["CairnBench"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
  ],
  targets: [
    // Layer 0: C shims (system libraries found through pkg-config).
    // RocksDB is linked statically (see `rocksDBLinking` below), so no pkg-config `-lrocksdb`.
    .systemLibrary(name: "CRocksDB", providers: [.apt(["librocksdb-dev"])]),
    .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
    .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    .systemLibrary(name: "CFuse3", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),

    // Layer 0: pure logic.
    .target(name: "CairnCore", dependencies: ["CCrypto"], swiftSettings: strict),
    .target(name: "CairnRaft", swiftSettings: strict),
    .target(name: "CairnSimulation", dependencies: ["CairnRaft", "CairnCore"], swiftSettings: strict),
    .target(name: "CairnRaftStorage", dependencies: ["CairnRaft", "CairnKV", "CairnCore"], swiftSettings: strict),
    .target(
      name: "CairnWire",
      dependencies: ["CairnCore", .product(name: "NIOCore", package: "swift-nio")],
      swiftSettings: strict),
    .target(name: "CairnKV", dependencies: ["CairnCore"], swiftSettings: strict),
    .target(name: "CairnMetadata", dependencies: ["CairnCore", "CairnKV"], swiftSettings: strict),
    .target(name: "CairnPlacement", dependencies: ["CairnCore"], swiftSettings: strict),

    // Layer 1: I/O shells.
    .target(
      name: "CairnRocksDB", dependencies: ["CairnKV", "CRocksDB"], swiftSettings: strict, linkerSettings: rocksDBLinking
    ),
    .target(name: "CairnBlockStore", dependencies: ["CairnCore", "CZstd"], swiftSettings: strict),
    .target(
      name: "CairnTransport",
      dependencies: [
        "CairnCore", "CairnWire",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strict),
    .target(
      name: "CairnService",
      dependencies: [
        "CairnCore",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "TOMLKit", package: "TOMLKit"),
      ],
      swiftSettings: strict),

    // Layer 2: servers and client.
    .target(
      name: "CairnMetaServer",
      dependencies: [
        "CairnMetadata", "CairnRocksDB", "CairnTransport", "CairnPlacement", "CairnService", "CairnRaft",
        "CairnRaftStorage", .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strict),
    .target(
      name: "CairnChunkServer",
      dependencies: [
        "CairnBlockStore", "CairnTransport", "CairnService",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strict),
    .target(
      name: "CairnClient",
      dependencies: [
        "CairnTransport", "CairnPlacement", .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: strict),

    // Layer 3: the mount.
    .target(
      name: "CairnVFS",
      dependencies: ["CairnClient", "CairnCore", .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),
    .target(
      name: "CairnFUSE",
      dependencies: ["CairnVFS", "CFuse3", .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),

    // Layer 4: the chaos harness (pure scenarios, history and checkers; the runner does the I/O).
    .target(
      name: "CairnChaos", dependencies: ["CairnCore", .product(name: "TOMLKit", package: "TOMLKit")],
      swiftSettings: strict),
    .target(
      name: "CairnChaosRunner",
      dependencies: [
        "CairnChaos", "CairnClient", "CairnCore", "CairnWire", "CairnTransport", "CairnVFS",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: strict),

    // Layer 4: command line.
    .target(
      name: "CairnCLI",
      dependencies: [
        "CairnClient", "CairnMetaServer", "CairnChunkServer", "CairnService", "CairnVFS", "CairnFUSE",
        "CairnChaosRunner",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict),
    .executableTarget(name: "cairn", dependencies: ["CairnCLI"], swiftSettings: strict),
    .executableTarget(
      name: "CairnBench",
      dependencies: [
        "CairnClient", "CairnService", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict),

    // Tests.
    .target(
      name: "CairnTestSupport", dependencies: ["CairnCore", "CairnClient", "CairnTransport"],
      path: "Tests/CairnTestSupport"),
    .testTarget(name: "CairnCoreTests", dependencies: ["CairnCore", "CairnTestSupport"]),
    .testTarget(name: "CairnRaftTests", dependencies: ["CairnRaft", "CairnSimulation"]),
    .testTarget(
      name: "CairnRaftStorageTests",
      dependencies: ["CairnRaftStorage", "CairnRocksDB", "CairnKV", "CairnRaft", "CairnTestSupport"]),
    .testTarget(name: "CairnWireTests", dependencies: ["CairnWire", "CairnTransport"]),
    .testTarget(name: "CairnKVTests", dependencies: ["CairnKV", "CairnRocksDB"]),
    .testTarget(name: "CairnMetadataTests", dependencies: ["CairnMetadata", "CairnRocksDB", "CairnTestSupport"]),
    .testTarget(name: "CairnPlacementTests", dependencies: ["CairnPlacement"]),
    .testTarget(name: "CairnBlockStoreTests", dependencies: ["CairnBlockStore"]),
    .testTarget(name: "CairnVFSTests", dependencies: ["CairnVFS", "CairnKV"]),
    .testTarget(
      name: "CairnIntegrationTests",
      dependencies: ["CairnClient", "CairnTestSupport", "CairnCore", "CairnWire", "CairnTransport"]),
    .testTarget(name: "CairnMountTests", dependencies: ["CairnTestSupport", "CairnCore"]),
    .testTarget(name: "CairnChaosTests", dependencies: ["CairnChaos", "CairnCore"]),
    .testTarget(
      name: "CairnChaosRunnerTests", dependencies: ["CairnChaosRunner", "CairnChaos", "CairnTestSupport", "CairnCore"]),
    .testTarget(
      name: "CairnMetaServerTests",
      dependencies: [
        "CairnMetaServer", "CairnMetadata", "CairnKV", "CairnRaft", "CairnRaftStorage", "CairnCore", "CairnRocksDB",
      ]),
  ]
)
