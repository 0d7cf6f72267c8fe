using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.Iscsi.Tests.Pdus;

/// <summary>RFC 1982 comparisons as CmdSN/StatSN windows need them, across the 2^32 wrap.</summary>
public sealed class SerialNumberTests
{
    [Theory]
    [InlineData(1u, 2u, true)]
    [InlineData(2u, 1u, false)]
    [InlineData(5u, 5u, false)]
    [InlineData(0xFFFFFFFFu, 0u, true)]        // 0 comes after 0xFFFFFFFF
    [InlineData(0u, 0xFFFFFFFFu, false)]
    [InlineData(0xFFFFFF00u, 0x10u, true)]
    [InlineData(0x10u, 0x7FFFFFFFu, true)]
    public void LessThan_follows_serial_arithmetic(uint a, uint b, bool expected)
    {
        Assert.Equal(expected, SerialNumber.LessThan(a, b));
        Assert.Equal(expected, SerialNumber.GreaterThan(b, a));
    }

    [Fact]
    public void LessOrEqual_includes_equality_and_wraps()
    {
        Assert.True(SerialNumber.LessOrEqual(7, 7));
        Assert.True(SerialNumber.LessOrEqual(0xFFFFFFFE, 1));
        Assert.False(SerialNumber.LessOrEqual(1, 0xFFFFFFFE));
    }
}
