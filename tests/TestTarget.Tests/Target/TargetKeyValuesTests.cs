using IscsiUp.Iscsi.Login;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>The test target's own value for each key (<see cref="TargetOptions.OperationalValue"/>) against the key table.</summary>
public sealed class TargetKeyValuesTests
{
    private static readonly TargetOptions Options = new()
    {
        TargetName = TestTargets.TargetName,
        Luns = new Dictionary<int, IBlockStorage>(),
        MaxBurstLength = 65536,
        InitialR2T = true,
    };

    /// <summary>AuthMethod is settled in the security stage, by the CHAP configuration, not from these values.</summary>
    [Fact]
    public void Every_negotiated_operational_key_has_a_value_the_rules_accept()
    {
        foreach (var key in LoginKeys.All.Where(k => k.Kind != KeyKind.Declarative && k.Name != LoginKeys.AuthMethod))
        {
            string? ours = Options.OperationalValue(key.Name);
            Assert.True(ours is not null, $"no target value for {key.Name}");
            // Offered our own value, the rules agree on it: it is well-formed and in range.
            Assert.NotEqual(KeyValues.Reject, Negotiation.Answer(key, ours!, ours!));
        }
    }

    [Fact]
    public void Values_follow_the_options()
    {
        Assert.Equal("65536", Options.OperationalValue(LoginKeys.MaxBurstLength));
        Assert.Equal(KeyValues.Yes, Options.OperationalValue(LoginKeys.InitialR2T));
        Assert.Equal("262144", Options.OperationalValue(LoginKeys.MaxRecvDataSegmentLength));
        Assert.Null(Options.OperationalValue("X-com.example.Unknown"));
    }
}
