namespace IscsiUp.MountManager.Tools;

/// <summary>An external tool ran past its time limit and was killed.</summary>
public sealed class ToolTimeoutException(string commandLine, TimeSpan timeout)
    : MountManagerException($"{commandLine} did not finish within {ToolTimeoutException.Describe(timeout)} and was killed")
{
    public string CommandLine { get; } = commandLine;

    private static string Describe(TimeSpan timeout) =>
        timeout.TotalMinutes >= 2 ? $"{timeout.TotalMinutes:0} minutes"
        : timeout.TotalSeconds >= 1 ? $"{timeout.TotalSeconds:0} seconds"
        : $"{timeout.TotalMilliseconds:0} ms";
}
