namespace CrabLambda.Functions;

/// <summary>
/// One page of a listing.
/// </summary>
/// <typeparam name="T">The item type.</typeparam>
/// <param name="Items">The items on this page.</param>
/// <param name="Page">The page number, starting at 1.</param>
/// <param name="Limit">The page size.</param>
/// <param name="Total">The number of items across all pages.</param>
public sealed record ListPage<T>(IReadOnlyList<T> Items, int Page, int Limit, long Total);
