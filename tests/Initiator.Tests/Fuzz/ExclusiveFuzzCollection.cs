namespace IscsiUp.Initiator.Tests.Fuzz;

/// <summary>Runs alone (after the parallel tests): the allocation and memory checks watch process-wide counters.</summary>
[CollectionDefinition(nameof(ExclusiveFuzzCollection), DisableParallelization = true)]
public sealed class ExclusiveFuzzCollection;
