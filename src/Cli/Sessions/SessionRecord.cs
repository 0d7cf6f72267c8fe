using IscsiUp.Nbd.Kernel;
using System.Globalization;
using System.Text;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// A running session as the process holding it describes it in /run/iscsi-up/sessions/ID.session
/// (key=value lines), so `session` can list it and `logout` can find the process to stop. A record whose process
/// is gone but whose kernel device still waits for a successor (<see cref="SessionAdoption"/>) is kept: the next
/// daemon adopts that device. The first LUN's fields are the record's own (<see cref="Lun"/>, <see cref="Device"/>, ...,
/// as a record of one LUN has always had them); a session exposing several LUNs keeps the others in
/// <see cref="OtherLuns"/> (lines lunN.device=, lunN.capacity=, ...), which an older record simply lacks.
/// </summary>
public sealed record SessionRecord(int Id, int Pid, string Target, string Portal, int GroupTag, int Lun, string Initiator, string Device, long CapacityBytes, string State, string? Control = null)
{
    public const string LoggedIn = "LOGGED_IN";
    /// <summary>The connection is being replaced; I/O waits (iscsiadm -m session -P 1 shows the connection as REPOEN then).</summary>
    public const string Recovering = "RECOVERING";
    /// <summary>The daemon stopped while the device was in use: the device waits (I/O held) for the next daemon.</summary>
    public const string HandOver = "HANDOVER";
    /// <summary>The daemon died (crash, kill -9, OOM): the device waits (I/O held) for the next daemon.</summary>
    public const string Orphaned = "ORPHANED";

    /// <summary>The LUN's unit serial number (VPD 0x80) when it has one: a successor refuses a LUN whose serial changed.</summary>
    public string? Serial { get; init; }
    /// <summary>The LUN's world-wide name (VPD 0x83, `naa:HEX` or `eui:HEX`) when it has one: udev's by-id names come from it.</summary>
    public string? Identifier { get; init; }
    /// <summary>The kernel device's request and dead-connection timeouts (seconds), for the successor's reattach.</summary>
    public int NbdTimeout { get; init; } = KernelNbdTimeouts.DefaultRequestSeconds;
    public int NbdDeadTimeout { get; init; } = KernelNbdTimeouts.DefaultDeadConnectionSeconds;
    /// <summary>When the device was left waiting (Unix seconds; 0: not left), so `session` and the successor know how long it waits.</summary>
    public long LeftAt { get; init; }
    /// <summary>The portal in use when a failover took the session to another portal of its group than <see cref="Portal"/> (null: none did).</summary>
    public string? CurrentPortal { get; init; }
    /// <summary>How many recoveries landed on another portal than the one lost.</summary>
    public int Failovers { get; init; }
    /// <summary>The LUNs after the first one that this session exposes (none in a single-LUN session).</summary>
    public IReadOnlyList<LunRecord> OtherLuns { get; init; } = [];

    /// <summary>Every LUN this session exposes, the first one first.</summary>
    public IReadOnlyList<LunRecord> Luns => [new LunRecord(Lun, Device, CapacityBytes) { Serial = Serial, Identifier = Identifier }, .. OtherLuns];

    /// <summary>This record exposing <paramref name="luns"/> (at least one) instead of its own.</summary>
    public SessionRecord WithLuns(IReadOnlyList<LunRecord> luns) => this with
    {
        Lun = luns[0].Lun, Device = luns[0].Device, CapacityBytes = luns[0].CapacityBytes,
        Serial = luns[0].Serial, Identifier = luns[0].Identifier, OtherLuns = [.. luns.Skip(1)],
    };

    /// <summary>True when the process that held the session is gone (the device waits for a successor).</summary>
    public bool Waiting => State is HandOver or Orphaned;

    public string FilePath => Path.Combine(Config.Paths.SessionsDir, $"{Id}.session");

    public void Save()
    {
        Config.Paths.EnsurePrivateDirectory(Config.Paths.RunDir);
        Config.Paths.EnsurePrivateDirectory(Config.Paths.SessionsDir);
        var text = new StringBuilder()
            .Append("id=").Append(Id).Append('\n')
            .Append("pid=").Append(Pid).Append('\n')
            .Append("target=").Append(Target).Append('\n')
            .Append("portal=").Append(Portal).Append('\n')
            .Append("tpgt=").Append(GroupTag).Append('\n')
            .Append("lun=").Append(Lun).Append('\n')
            .Append("initiator=").Append(Initiator).Append('\n')
            .Append("device=").Append(Device).Append('\n')
            .Append("capacity=").Append(CapacityBytes).Append('\n')
            .Append("state=").Append(State).Append('\n')
            .Append("control=").Append(Control ?? "").Append('\n')
            .Append("serial=").Append(Serial ?? "").Append('\n')
            .Append("identifier=").Append(Identifier ?? "").Append('\n')
            .Append("nbd_timeout=").Append(NbdTimeout).Append('\n')
            .Append("nbd_dead_timeout=").Append(NbdDeadTimeout).Append('\n')
            .Append("left_at=").Append(LeftAt).Append('\n')
            .Append("current_portal=").Append(CurrentPortal ?? "").Append('\n')
            .Append("failovers=").Append(Failovers).Append('\n');
        if (OtherLuns.Count > 0) text.Append("other_luns=").AppendJoin(',', OtherLuns.Select(l => l.Lun)).Append('\n');
        foreach (var other in OtherLuns)
        {
            text.Append("lun").Append(other.Lun).Append(".device=").Append(other.Device).Append('\n')
                .Append("lun").Append(other.Lun).Append(".capacity=").Append(other.CapacityBytes).Append('\n')
                .Append("lun").Append(other.Lun).Append(".serial=").Append(other.Serial ?? "").Append('\n')
                .Append("lun").Append(other.Lun).Append(".identifier=").Append(other.Identifier ?? "").Append('\n');
        }
        SafeFiles.AtomicFile.Write(FilePath, text.ToString());
    }

    public void Delete()
    {
        try { File.Delete(FilePath); } catch (IOException) { }
        SessionCredentials.Delete(Id);
    }

    public static SessionRecord? Load(string path)
    {
        try
        {
            var values = File.ReadAllLines(path)
                .Select(line => line.Split('=', 2))
                .Where(parts => parts.Length == 2)
                .ToDictionary(parts => parts[0], parts => parts[1]);
            int Int(string key) => int.Parse(values[key], CultureInfo.InvariantCulture);
            string? Optional(string key) => values.TryGetValue(key, out var value) && value.Length > 0 ? value : null;
            return new SessionRecord(Int("id"), Int("pid"), values["target"], values["portal"], Int("tpgt"), Int("lun"),
                values["initiator"], values["device"], long.Parse(values["capacity"], CultureInfo.InvariantCulture), values["state"],
                Optional("control"))
            {
                Serial = Optional("serial"),
                Identifier = Optional("identifier"),
                NbdTimeout = Optional("nbd_timeout") is { } timeout ? int.Parse(timeout, CultureInfo.InvariantCulture) : KernelNbdTimeouts.DefaultRequestSeconds,
                NbdDeadTimeout = Optional("nbd_dead_timeout") is { } dead ? int.Parse(dead, CultureInfo.InvariantCulture) : KernelNbdTimeouts.DefaultDeadConnectionSeconds,
                LeftAt = Optional("left_at") is { } left ? long.Parse(left, CultureInfo.InvariantCulture) : 0,
                CurrentPortal = Optional("current_portal"),
                Failovers = Optional("failovers") is { } failovers ? int.Parse(failovers, CultureInfo.InvariantCulture) : 0,
                OtherLuns = Optional("other_luns") is { } others
                    ? [.. others.Split(',').Select(text => int.Parse(text, CultureInfo.InvariantCulture)).Select(lun => new LunRecord(lun,
                        values[$"lun{lun}.device"], long.Parse(values[$"lun{lun}.capacity"], CultureInfo.InvariantCulture))
                        {
                            Serial = Optional($"lun{lun}.serial"),
                            Identifier = Optional($"lun{lun}.identifier"),
                        })]
                    : [],
            };
        }
        catch (Exception e) when (e is IOException or FormatException or KeyNotFoundException or OverflowException)
        {
            return null; // half-written or foreign file: not a session
        }
    }

    /// <summary>
    /// Every live session, and every device left waiting for a successor (state <see cref="HandOver"/> or
    /// <see cref="Orphaned"/>); other records whose process is gone are removed.
    /// </summary>
    public static IReadOnlyList<SessionRecord> LoadAll(KernelNbdSysfs? sysfs = null)
    {
        if (!Directory.Exists(Config.Paths.CheckTrusted(Config.Paths.RunDir, Config.Paths.SessionsDir))) return [];
        var sessions = new List<SessionRecord>();
        foreach (var file in Directory.EnumerateFiles(Config.Paths.SessionsDir, "*.session"))
        {
            if (Load(file) is not { } record) continue;
            if (IsAlive(record.Pid)) sessions.Add(record);
            else if (SessionAdoption.Waiting(record, sysfs ?? KernelNbdSysfs.Host) is { } waiting) sessions.Add(waiting);
            else record.Delete();
        }
        return sessions.OrderBy(s => s.Id).ToArray();
    }

    /// <summary>The next free session number (1, 2, ...), like iscsiadm's sid.</summary>
    public static int NextId()
    {
        var used = LoadAll().Select(s => s.Id).ToHashSet();
        int id = 1;
        while (used.Contains(id)) id++;
        return id;
    }

    public static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}");
}
