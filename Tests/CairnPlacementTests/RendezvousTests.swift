import CairnCore
import CairnPlacement
import XCTest

final class RendezvousTests: XCTestCase {
  func servers(_ n: Int, zones: Int = 1) -> [PlacementTarget] {
    (1...n).map { PlacementTarget(serverId: UInt64($0), zone: "z\($0 % zones)") }
  }

  func addresses(_ n: Int) -> [BlockAddress] { (0..<n).map { BlockAddress.of(Array("block \($0)".utf8)) } }

  func testPlacementIsDistinctAndDeterministic() {
    for address in addresses(200) {
      let a = Rendezvous.place(address, replicas: 3, among: servers(5))
      XCTAssertEqual(a, Rendezvous.place(address, replicas: 3, among: servers(5).reversed()))
      XCTAssertEqual(Set(a).count, 3)
    }
  }

  func testAddingAServerMovesAboutOneNthOfBlocks() {
    let before = servers(9)
    let after = servers(10)
    let all = addresses(5000)
    let moved = all.filter {
      Rendezvous.place($0, replicas: 1, among: before) != Rendezvous.place($0, replicas: 1, among: after)
    }.count
    let fraction = Double(moved) / Double(all.count)
    XCTAssertEqual(fraction, 0.1, accuracy: 0.03, "expected ~1/10 of blocks to move, moved \(fraction)")
  }

  func testReplicasSpreadAcrossZonesWhenPossible() {
    let fleet = servers(6, zones: 3)
    for address in addresses(300) {
      let zones = Set(Rendezvous.place(address, replicas: 3, among: fleet).map(\.zone))
      XCTAssertEqual(zones.count, 3)
    }
  }

  func testFewerServersThanReplicasGivesAllServers() {
    XCTAssertEqual(Rendezvous.place(addresses(1)[0], replicas: 3, among: servers(2)).count, 2)
  }

  func testWriteQuorumIsMajority() {
    XCTAssertEqual(Quorum.write(replicas: 1), 1)
    XCTAssertEqual(Quorum.write(replicas: 3), 2)
    XCTAssertEqual(Quorum.write(replicas: 5), 3)
  }
}
