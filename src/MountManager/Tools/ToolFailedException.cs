namespace IscsiUp.MountManager.Tools;

/// <summary>An external tool exited with a code that means failure.</summary>
public sealed class ToolFailedException(string commandLine, CommandResult result)
    : MountManagerException($"{commandLine} failed: {result.FirstErrorLine}")
{
    public string CommandLine { get; } = commandLine;

    public CommandResult Result { get; } = result;
}
