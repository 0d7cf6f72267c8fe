using System.Globalization;

namespace IscsiUp.TestTarget.Cli;

/// <summary>The --raid5 argument "ACTIVE+SPARES" (mdadm's -n and -x), e.g. 3+1.</summary>
public readonly record struct RaidShape(int Active, int Spares)
{
    public static bool TryParse(string text, out RaidShape shape)
    {
        shape = default;
        string[] parts = text.Trim().Split('+');
        if (parts.Length > 2) return false;
        if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int active) || active < 2 || active > 64) return false;
        int spares = 0;
        if (parts.Length == 2 && (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out spares) || spares > 64)) return false;
        shape = new RaidShape(active, spares);
        return true;
    }

    public override string ToString() => $"{Active}+{Spares}";
}
