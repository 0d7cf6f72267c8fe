using IscsiUp.Initiator.Session;

namespace IscsiUp.Initiator.Tests.Session;

/// <summary>Portal addresses as administrators type them: HOST, HOST:PORT, [IPv6]:PORT, and discovery's HOST:PORT,TPGT.</summary>
public sealed class PortalTests
{
    [Theory]
    [InlineData("storage.example", "storage.example", 3260)]
    [InlineData("192.0.2.7", "192.0.2.7", 3260)]
    [InlineData("192.0.2.7:860", "192.0.2.7", 860)]
    [InlineData("127.0.0.1:65535", "127.0.0.1", 65535)]
    [InlineData("[::1]:3260", "::1", 3260)]
    [InlineData("[fe80::1%eth0]:3261", "fe80::1%eth0", 3261)]
    [InlineData("[::1]", "::1", 3260)]
    [InlineData("::1", "::1", 3260)]                       // bare IPv6 address: no port
    [InlineData("2001:db8::5", "2001:db8::5", 3260)]
    [InlineData("  host:1  ", "host", 1)]
    [InlineData("10.0.0.1:3260,1", "10.0.0.1", 3260)]      // iscsiadm's form with the group tag
    [InlineData("[::1]:3262,2", "::1", 3262)]
    public void Parses_valid_portals(string text, string host, int port)
    {
        Assert.True(Portal.TryParse(text, out var portal, out var error), error);
        Assert.Null(error);
        Assert.Equal(new Portal(host, port), portal);
        Assert.Equal(portal, Portal.Parse(text));
    }

    [Theory]
    [InlineData("host:0")]
    [InlineData("host:65536")]
    [InlineData("host:99999")]
    [InlineData("host:abc")]
    [InlineData("host:")]
    [InlineData("host:-1")]
    [InlineData("host:+80")]
    [InlineData(":3260")]
    [InlineData("")]
    [InlineData("[::1")]
    [InlineData("[::1]3260")]
    [InlineData("[]:3260")]
    [InlineData("[::1]:0")]
    public void Refuses_invalid_portals(string text)
    {
        Assert.False(Portal.TryParse(text, out var portal, out var error));
        Assert.Null(portal);
        Assert.StartsWith("invalid portal", error);
        var thrown = Assert.Throws<FormatException>(() => Portal.Parse(text));
        Assert.Equal(error, thrown.Message);
    }

    [Fact]
    public void Bad_port_message_says_what_a_port_is()
    {
        Assert.False(Portal.TryParse("host:70000", out _, out var error));
        Assert.Contains("1 to 65535", error);
    }

    [Theory]
    [InlineData("127.0.0.1", 3260, "127.0.0.1:3260")]
    [InlineData("::1", 3260, "[::1]:3260")]
    [InlineData("storage.example", 860, "storage.example:860")]
    public void Prints_in_a_form_it_parses_back(string host, int port, string expected)
    {
        var portal = new Portal(host, port);
        Assert.Equal(expected, portal.ToString());
        Assert.Equal(portal, Portal.Parse(portal.ToString()));
    }
}
