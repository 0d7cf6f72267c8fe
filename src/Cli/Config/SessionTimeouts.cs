using System.Globalization;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Cli.Config;

/// <summary>
/// How long a session waits on a target before it escalates, in whole seconds; null keeps the default (those of
/// <see cref="RecoveryOptions"/>, close to open-iscsi's). Stored in node files under open-iscsi's key names where
/// open-iscsi has one.
/// </summary>
public sealed record SessionTimeouts(int? Command = null, int? Abort = null, int? LuReset = null, int? Replacement = null)
{
    public const int MaxSeconds = 86400;
    public static readonly SessionTimeouts Default = new();

    public const string CommandKey = "node.session.cmd_timeout";
    public const string AbortKey = "node.session.err_timeo.abort_timeout";
    public const string LuResetKey = "node.session.err_timeo.lu_reset_timeout";
    public const string ReplacementKey = "node.session.timeo.replacement_timeout";

    /// <summary>These timeouts over <paramref name="baseline"/> (iscsi-up.conf's, else the built-in defaults).</summary>
    public RecoveryOptions ToRecovery(RecoveryOptions? baseline = null)
    {
        var defaults = baseline ?? new RecoveryOptions();
        return defaults with
        {
            CommandTimeout = Seconds(Command) ?? defaults.CommandTimeout,
            AbortTimeout = Seconds(Abort) ?? defaults.AbortTimeout,
            LuResetTimeout = Seconds(LuReset) ?? defaults.LuResetTimeout,
            ReplacementTimeout = Seconds(Replacement) ?? defaults.ReplacementTimeout,
        };
    }

    /// <summary>These values, and where one is unset, <paramref name="fallback"/>'s.</summary>
    public SessionTimeouts Or(SessionTimeouts fallback) =>
        new(Command ?? fallback.Command, Abort ?? fallback.Abort, LuReset ?? fallback.LuReset, Replacement ?? fallback.Replacement);

    /// <summary>The node file lines (empty value: the default).</summary>
    public IEnumerable<(string Key, int? Value)> Entries =>
        [(CommandKey, Command), (AbortKey, Abort), (LuResetKey, LuReset), (ReplacementKey, Replacement)];

    /// <summary>From node file values; a value out of range is a <see cref="FormatException"/> naming its key.</summary>
    public static SessionTimeouts From(Func<string, string?> value) =>
        new(Parse(CommandKey, value(CommandKey)), Parse(AbortKey, value(AbortKey)), Parse(LuResetKey, value(LuResetKey)), Parse(ReplacementKey, value(ReplacementKey)));

    /// <summary>Whole seconds from 1 to a day, or null for an empty value.</summary>
    public static int? Parse(string name, string? text)
    {
        if (string.IsNullOrEmpty(text)) return null;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) || !IsValid(seconds))
            throw new FormatException($"{name} must be whole seconds from 1 to {MaxSeconds}, not '{text}'");
        return seconds;
    }

    public static bool IsValid(int seconds) => seconds is >= 1 and <= MaxSeconds;

    private static TimeSpan? Seconds(int? value) => value is { } s ? TimeSpan.FromSeconds(s) : null;
}
