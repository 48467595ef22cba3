// The engine runs workers with Unix sockets, process groups, bubblewrap and cgroups: its tests run on Linux.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
