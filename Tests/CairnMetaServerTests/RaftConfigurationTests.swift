import CairnCore
import XCTest

@testable import CairnMetaServer

final class RaftConfigurationTests: XCTestCase {
  func bad(_ id: UInt64?, _ peers: String, timeout: Int? = nil, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try RaftConfiguration(id: id, peers: peers, electionTimeoutMillis: timeout), file: file, line: line) {
      error in
      let e = error as? CairnError
      XCTAssertEqual(e?.code, .invalidArgument, file: file, line: line)
      XCTAssertTrue(e?.message.contains(mentions) == true, "\(error) should mention \(mentions)", file: file, line: line)
    }
  }

  func testGoodPeers() throws {
    let c = try RaftConfiguration(id: 2, peers: "1=127.0.0.1:7700, 2=127.0.0.1:7720,3=[::1]:7721")
    XCTAssertEqual(c.peers, [1: "127.0.0.1:7700", 2: "127.0.0.1:7720", 3: "[::1]:7721"])
    XCTAssertEqual(c.electionTimeoutMillis, 1000)
    XCTAssertEqual(c.tickInterval, .milliseconds(100))
  }

  func testBadPeersAreClearErrors() {
    bad(nil, "1=127.0.0.1:1", mentions: "--id is required")
    bad(0, "1=127.0.0.1:1", mentions: "--id must be a positive")
    bad(4, "1=127.0.0.1:1,2=127.0.0.1:2", mentions: "--id 4 is not among the --peers")
    bad(1, "1=127.0.0.1:1,1=127.0.0.1:2", mentions: "lists member id 1 twice")
    bad(1, "1=127.0.0.1:1,2=127.0.0.1:1", mentions: "the same address")
    bad(1, "1=127.0.0.1", mentions: "HOST:PORT")
    bad(1, "127.0.0.1:1", mentions: "must look like ID=HOST:PORT")
    bad(1, "x=127.0.0.1:1", mentions: "must look like ID=HOST:PORT")
    bad(1, "0=127.0.0.1:1", mentions: "0 is reserved")
    bad(1, "", mentions: "--peers is empty")
    bad(1, "1=127.0.0.1:1,", mentions: "must look like ID=HOST:PORT")
    bad(1, "1=127.0.0.1:99999", mentions: "invalid port")
    bad(1, "1=127.0.0.1:1", timeout: 10, mentions: "election timeout")
  }

  func testServerConfigNeedsPeersForId() {
    var config = MetaServerConfig(dataDir: "/d", listen: "127.0.0.1:1")
    XCTAssertNil(try config.raftConfiguration())
    config.id = 1
    XCTAssertThrowsError(try config.raftConfiguration())
    config.id = nil
    config.join = true
    XCTAssertThrowsError(try config.raftConfiguration())
  }
}
