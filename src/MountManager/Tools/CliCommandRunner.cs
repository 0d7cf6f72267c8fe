using System.Text;
using CliWrap;

namespace IscsiUp.MountManager.Tools;

/// <summary>
/// <see cref="ICommandRunner"/> over CliWrap: stdin is empty (no tool may wait for a "Proceed anyway?"
/// answer), the locale is C (so messages parse the same everywhere) and the process is killed when its
/// time limit passes.
/// </summary>
public sealed class CliCommandRunner : ICommandRunner
{
    public static CliCommandRunner Instance { get; } = new();

    public bool IsAvailable(string tool) => ToolLocator.Find(tool) is not null;

    public async Task<CommandResult> RunAsync(
        string tool,
        IReadOnlyList<string> arguments,
        TimeSpan timeout,
        Action<string>? onOutputLine = null,
        CancellationToken cancellationToken = default)
    {
        var path = ToolLocator.Find(tool) ?? throw new ToolNotFoundException(tool, ToolPackages.For(tool));
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var gate = new object();

        PipeTarget Capture(StringBuilder buffer) => PipeTarget.ToDelegate(line =>
        {
            lock (gate)
            {
                buffer.Append(line).Append('\n');
                onOutputLine?.Invoke(line);
            }
        });

        var command = Cli.Wrap(path)
            .WithArguments(arguments)
            .WithEnvironmentVariables(env => env.Set("LC_ALL", "C"))
            .WithValidation(CommandResultValidation.None)
            .WithStandardOutputPipe(Capture(stdout))
            .WithStandardErrorPipe(Capture(stderr));

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            var result = await command.ExecuteAsync(deadline.Token).ConfigureAwait(false);
            lock (gate) return new CommandResult(result.ExitCode, stdout.ToString(), stderr.ToString());
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ToolTimeoutException(ToolPackages.CommandLine(tool, arguments), timeout);
        }
    }
}
