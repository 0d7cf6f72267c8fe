// These tests use Unix file modes, owners and symlinks.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
