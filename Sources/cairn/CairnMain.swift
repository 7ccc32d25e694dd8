import CairnCLI

/// The `cairn` executable: everything lives in CairnCLI.
@main
struct CairnMain {
  static func main() async {
    await Cairn.main(nil)
  }
}
