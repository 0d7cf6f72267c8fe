using System.Globalization;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Cli.Config;

/// <summary>
/// /etc/iscsi-up/iscsi-up.conf, the node defaults (like open-iscsi's iscsid.conf, with its key names):
/// timeouts, digests and a default CHAP user for sessions and for discovery. A node record and the command
/// line take precedence over it; without the file the built-in defaults apply. A line that cannot be used
/// is an error naming the file and line (exit 7), never silently ignored.
/// </summary>
public sealed record NodeDefaults
{
    public const string LoginTimeoutKey = "node.conn[0].timeo.login_timeout";
    public const string ReplacementTimeoutKey = "node.session.timeo.replacement_timeout";
    public const string NopIntervalKey = "node.conn[0].timeo.noop_out_interval";
    public const string NopTimeoutKey = "node.conn[0].timeo.noop_out_timeout";
    public const string HeaderDigestKey = "node.conn[0].iscsi.HeaderDigest";
    public const string DataDigestKey = "node.conn[0].iscsi.DataDigest";
    public const string ChapUserKey = "node.session.auth.username";
    public const string ChapSecretFileKey = "node.session.auth.password_file";
    public const string DiscoveryChapUserKey = "discovery.sendtargets.auth.username";
    public const string DiscoveryChapSecretFileKey = "discovery.sendtargets.auth.password_file";

    public static string FilePath => Path.Combine(Paths.ConfigDir, "iscsi-up.conf");

    public int LoginTimeoutSeconds { get; init; } = 15;
    public int ReplacementTimeoutSeconds { get; init; } = (int)new RecoveryOptions().ReplacementTimeout.TotalSeconds;
    public int NopIntervalSeconds { get; init; } = (int)new RecoveryOptions().NopInterval.TotalSeconds;
    public int NopTimeoutSeconds { get; init; } = (int)new RecoveryOptions().NopTimeout.TotalSeconds;
    public DigestMode HeaderDigest { get; init; } = DigestMode.None;
    public DigestMode DataDigest { get; init; } = DigestMode.None;
    public string? ChapUser { get; init; }
    public string? ChapSecretFile { get; init; }
    public string? DiscoveryChapUser { get; init; }
    public string? DiscoveryChapSecretFile { get; init; }

    /// <summary>The timeouts a session recovers with.</summary>
    public RecoveryOptions Recovery => new()
    {
        ReplacementTimeout = TimeSpan.FromSeconds(ReplacementTimeoutSeconds),
        NopInterval = TimeSpan.FromSeconds(NopIntervalSeconds),
        NopTimeout = TimeSpan.FromSeconds(NopTimeoutSeconds),
    };

    /// <summary>The default CHAP credentials for sessions (or for discovery), or null when the file names none.</summary>
    public ChapCredentials? ReadChap(bool discovery)
    {
        var (user, file) = discovery ? (DiscoveryChapUser, DiscoveryChapSecretFile) : (ChapUser, ChapSecretFile);
        return user is null || file is null ? null : new ChapCredentials(user, Config.ChapSecretFile.Read(file));
    }

    public static NodeDefaults Load()
    {
        if (Config.SmallFile.KindOf(FilePath) is null) return new NodeDefaults();
        var defaults = new NodeDefaults();
        string[] lines = SmallFile.ReadText(FilePath, "configuration file").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            string where = $"{FilePath} line {i + 1}";
            if (line.Split('=', 2) is not [var rawKey, var rawValue]) throw new UserError($"{where}: expected KEY = VALUE");
            string key = rawKey.Trim(), value = rawValue.Trim();
            defaults = key switch
            {
                LoginTimeoutKey => defaults with { LoginTimeoutSeconds = Seconds(value, 1, Commands.ArgumentCheck.MaxLoginTimeoutSeconds, key, where) },
                ReplacementTimeoutKey => defaults with { ReplacementTimeoutSeconds = Seconds(value, 1, 86400, key, where) },
                NopIntervalKey => defaults with { NopIntervalSeconds = Seconds(value, 1, 3600, key, where) },
                NopTimeoutKey => defaults with { NopTimeoutSeconds = Seconds(value, 1, 3600, key, where) },
                HeaderDigestKey => defaults with { HeaderDigest = Digest(value, key, where) },
                DataDigestKey => defaults with { DataDigest = Digest(value, key, where) },
                ChapUserKey => defaults with { ChapUser = NonEmpty(value, key, where) },
                ChapSecretFileKey => defaults with { ChapSecretFile = AbsolutePath(value, key, where) },
                DiscoveryChapUserKey => defaults with { DiscoveryChapUser = NonEmpty(value, key, where) },
                DiscoveryChapSecretFileKey => defaults with { DiscoveryChapSecretFile = AbsolutePath(value, key, where) },
                _ => throw new UserError($"{where}: unknown key {key} (see man iscsi-up, CONFIGURATION FILE)"),
            };
        }
        return defaults;
    }

    private static int Seconds(string value, int min, int max, string key, string where) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) && seconds >= min && seconds <= max
            ? seconds
            : throw new UserError($"{where}: invalid {key} \"{value}\": give seconds from {min} to {max}");

    /// <summary>iscsid.conf's values: "None", "CRC32C", or a preference list such as "CRC32C,None".</summary>
    private static DigestMode Digest(string value, string key, string where) => value.Replace(" ", "") switch
    {
        "None" => DigestMode.None,
        "CRC32C" => DigestMode.Require,
        "CRC32C,None" => DigestMode.Prefer,
        "None,CRC32C" => DigestMode.None, // None preferred: the target takes the first value it supports
        _ => throw new UserError($"{where}: invalid {key} \"{value}\": None, CRC32C, CRC32C,None or None,CRC32C"),
    };

    private static string NonEmpty(string value, string key, string where) =>
        value.Length > 0 && !value.Any(char.IsControl) ? value : throw new UserError($"{where}: {key} needs a value");

    private static string AbsolutePath(string value, string key, string where) =>
        Path.IsPathRooted(value) ? value : throw new UserError($"{where}: {key} must be an absolute path, not \"{value}\"");
}
