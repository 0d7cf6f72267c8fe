namespace IscsiUp.Cli;

/// <summary>A failure caused by the user's input or environment: printed as one line, with the given exit code.</summary>
public sealed class UserError(string message, int exitCode = ExitCodes.InvalidArgument) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
