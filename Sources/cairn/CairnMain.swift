import CairnCLI
import Glibc

/// The `cairn` executable: everything lives in CairnCLI.
@main
struct CairnMain {
  static func main() async {
    // A closed pipe is an error return from write(2), handled where we write.
    signal(SIGPIPE, SIG_IGN)
    await Cairn.main(nil)
  }
}
