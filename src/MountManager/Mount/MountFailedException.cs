using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Mount;

/// <summary>mount or umount refused; the message carries the tool's own explanation.</summary>
public sealed class MountFailedException(string commandLine, CommandResult result)
    : MountManagerException($"{commandLine} failed: {result.FirstErrorLine}")
{
    public string CommandLine { get; } = commandLine;

    public CommandResult Result { get; } = result;
}
