namespace IscsiUp.TestTarget.Control;

/// <summary>A control command that cannot be carried out; its message is the one-line answer after "error: ".</summary>
public sealed class ControlException(string message) : Exception(message);
