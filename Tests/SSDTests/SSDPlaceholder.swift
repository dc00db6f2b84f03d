import XCTest
@testable import SSD
