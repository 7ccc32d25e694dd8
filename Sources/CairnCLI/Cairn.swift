import ArgumentParser

/// The `cairn` command: servers, volumes, the local dev cluster.
public struct Cairn: AsyncParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "cairn",
    abstract: "Cairn: distributed persistent volumes with immutable versions.",
    discussion: """
      Quick start:
        cairn dev up                         start a local cluster (and volume 'demo')
        cairn volume put demo ./dir /data    upload a directory as one commit
        cairn volume ls demo /data           list it
        cairn volume history demo            show versions
      """,
    version: "0.1.0",
    subcommands: [VolumeCommand.self, DevCommand.self, ClusterCommand.self, MetaCommand.self, ChunkCommand.self, MountCommand.self, CommitCommand.self, ReloadCommand.self, StatusCommand.self, UnmountCommand.self, RunCommand.self, ChaosCommand.self])

  public init() {}
}
