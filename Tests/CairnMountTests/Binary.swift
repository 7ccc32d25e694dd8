import CairnTestSupport

/// The built `cairn` executable (found the same way the shared test support finds it).
enum CairnTestSupportBinary {
  static var path: String { ClusterFixture.binary }
}
