using System.Diagnostics;
using IscsiUp.Cli.Tests.Support;

namespace IscsiUp.Cli.Tests;

/// <summary>packaging/completion/iscsi-up.bash (shipped in the RPM) against the real program's --help and node records.</summary>
public sealed class CompletionTests
{
    /// <summary>bash, and zsh running the same script through bashcompinit (as packaging/completion/_iscsi-up does).</summary>
    [Theory]
    [InlineData("bash")]
    [InlineData("zsh")]
    public async Task Completes_every_command_and_exactly_the_options_each_help_lists(string shell)
    {
        using var cli = new CliRun();

        Assert.Equal([.. UsageTests.Commands.Order(StringComparer.Ordinal)], (await CompleteAsync(cli, shell, "iscsi-up", "")).Where(w => !w.StartsWith('-')).Order(StringComparer.Ordinal));
        foreach (var command in UsageTests.Commands)
        {
            var help = await cli.RunAsync(command, "--help");
            var listed = Repository.HelpOptions(help.Stdout).SelectMany(o => o.Short is null ? new[] { o.Long } : [o.Short, o.Long])
                .Order(StringComparer.Ordinal).ToArray();
            var completed = (await CompleteAsync(cli, shell, "iscsi-up", command, "-")).Where(o => o != "--help").Order(StringComparer.Ordinal).ToArray();
            Assert.True(listed.SequenceEqual(completed), $"{command}: --help lists [{string.Join(' ', listed)}], completion offers [{string.Join(' ', completed)}]");
        }
    }

    [Theory]
    [InlineData("bash")]
    [InlineData("zsh")]
    public async Task Completes_values_and_the_targets_and_portals_of_the_node_records(string shell)
    {
        using var cli = new CliRun();
        Assert.Equal(0, (await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", "127.0.0.1:3261", "-I", BundledTarget.Client)).ExitCode);

        Assert.Equal(["none", "prefer", "require"], await CompleteAsync(cli, shell, "iscsi-up", "login", "--digest", ""));
        Assert.Equal(["automatic"], await CompleteAsync(cli, shell, "iscsi-up", "node", "--startup", "a"));
        Assert.Equal([BundledTarget.TargetName], await CompleteAsync(cli, shell, "iscsi-up", "login", "-T", "iqn.2026"));
        Assert.Equal(["127.0.0.1:3261"], await CompleteAsync(cli, shell, "iscsi-up", "mount", "-T", BundledTarget.TargetName, "-p", ""));
    }

    [Fact]
    public async Task The_zsh_completion_file_is_valid_zsh_and_sources_the_installed_bash_completion()
    {
        string file = Path.Combine(Repository.Root(), "packaging", "completion", "_iscsi-up");
        var start = new System.Diagnostics.ProcessStartInfo("zsh", ["-n", file]) { RedirectStandardError = true, UseShellExecute = false };
        using var zsh = Process.Start(start)!;
        string errors = await zsh.StandardError.ReadToEndAsync();
        await zsh.WaitForExitAsync();
        Assert.True(zsh.ExitCode == 0, errors);
        string text = await File.ReadAllTextAsync(file);
        Assert.StartsWith("#compdef iscsi-up\n", text);
        Assert.Contains("source /usr/share/bash-completion/completions/iscsi-up\n", text);
    }

    /// <summary>
    /// COMPREPLY for the words typed so far (the last one is the word being completed). zsh's compgen leaves
    /// matching the typed prefix to compadd, so for zsh the prefix filter is applied here.
    /// </summary>
    private static async Task<string[]> CompleteAsync(CliRun cli, string shell, params string[] words)
    {
        string script = Path.Combine(Repository.Root(), "packaging", "completion", "iscsi-up.bash");
        var start = cli.StartInfo();
        start.FileName = shell;
        start.ArgumentList.Clear();
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(shell == "bash"
            ? """
              iscsi-up() { dotnet "$ISCSI_UP_DLL" "$@"; }
              source "$1"; shift
              COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
              _iscsi_up
              printf '%s\n' "${COMPREPLY[@]}"
              """
            : """
              autoload -Uz compinit bashcompinit && compinit -u && bashcompinit
              iscsi-up() { dotnet "$ISCSI_UP_DLL" "$@"; }
              source "$1"; shift
              COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
              emulate sh -c '_iscsi_up; printf "%s\n" "${COMPREPLY[@]}"'
              """);
        start.ArgumentList.Add(shell);
        start.ArgumentList.Add(script);
        foreach (var word in words) start.ArgumentList.Add(word);
        start.Environment["ISCSI_UP_DLL"] = CliRun.Program;
        using var bash = Process.Start(start)!;
        bash.StandardInput.Close();
        var stderr = bash.StandardError.ReadToEndAsync();
        string stdout = await bash.StandardOutput.ReadToEndAsync();
        await bash.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(bash.ExitCode == 0, $"completion failed: {await stderr}");
        var reply = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return shell == "zsh" ? [.. reply.Where(word => word.StartsWith(words[^1], StringComparison.Ordinal))] : reply;
    }
}
