import XCTest
@testable import Tensors
